package bench

import (
	_ "github.com/avast/retry-go/v4"
	_ "github.com/cenkalti/backoff/v5"
	_ "github.com/hashicorp/golang-lru/v2/expirable"
	_ "github.com/jackc/puddle/v2"
	_ "github.com/jellydator/ttlcache/v3"
	_ "github.com/libp2p/go-buffer-pool"
	_ "github.com/sethvargo/go-retry"
	_ "github.com/stretchr/testify/require"
	_ "github.com/valyala/bytebufferpool"
	_ "go.uber.org/multierr"
)
