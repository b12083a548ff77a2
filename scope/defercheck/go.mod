module github.com/reclaim-go/reclaim/scope/defercheck

go 1.25.0

require golang.org/x/tools v0.49.0

require (
	go.uber.org/goleak v1.3.0 // indirect
	golang.org/x/mod v0.39.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
