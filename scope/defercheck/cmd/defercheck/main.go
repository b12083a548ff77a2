// Command defercheck runs reclaim's cleanup checks (deferbeforecheck,
// deferloop, lostclose, scopemisuse) over Go packages:
//
//	defercheck ./...
//	go vet -vettool="$(go env GOPATH)/bin/defercheck" ./...
//
// It accepts the flags of every analysis driver: -fix applies suggested
// fixes, -json prints JSON, and -NAME=false turns an analyzer off.
package main

import (
	"github.com/reclaim-go/reclaim/scope/defercheck"
	"golang.org/x/tools/go/analysis/multichecker"
)

func main() { multichecker.Main(defercheck.Analyzers...) }
