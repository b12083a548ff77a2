module github.com/reclaim-go/reclaim/internal/bench

go 1.25.0

replace github.com/reclaim-go/reclaim => ../..

require (
	github.com/avast/retry-go/v4 v4.7.0
	github.com/cenkalti/backoff/v5 v5.0.3
	github.com/hashicorp/golang-lru/v2 v2.0.7
	github.com/jackc/puddle/v2 v2.2.3
	github.com/jellydator/ttlcache/v3 v3.4.1
	github.com/libp2p/go-buffer-pool v0.1.0
	github.com/reclaim-go/reclaim v0.0.0-00010101000000-000000000000
	github.com/sethvargo/go-retry v0.5.0
	github.com/valyala/bytebufferpool v1.0.0
	go.uber.org/multierr v1.11.0
)

require golang.org/x/sync v0.16.0 // indirect
