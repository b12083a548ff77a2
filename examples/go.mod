module github.com/reclaim-go/reclaim/examples

go 1.25

replace github.com/reclaim-go/reclaim => ..

require github.com/reclaim-go/reclaim v0.0.0-00010101000000-000000000000
