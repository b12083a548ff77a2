module github.com/reclaim-go/reclaim/examples

go 1.25

replace github.com/reclaim-go/reclaim => ..

require (
	github.com/reclaim-go/reclaim v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
)

require (
	go.uber.org/multierr v1.11.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
