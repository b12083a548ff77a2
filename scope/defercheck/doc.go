// Package defercheck finds the hand-written cleanup bugs that reclaim's
// scope package replaces: cleanups registered before an error check
// (deferbeforecheck), defers that pile up in loops (deferloop), Close errors
// dropped after writes (lostclose), a cleanup's error that replaces the
// function's (errreplace), and misuses of reclaim itself (scopemisuse).
//
// Each check is a [golang.org/x/tools/go/analysis.Analyzer], so the suite
// runs under any analysis driver: as `go vet -vettool`, as the standalone
// command in cmd/defercheck, or inside gopls and golangci-lint. The
// analyzers' names are the command's flags; they are kept stable.
package defercheck

import "golang.org/x/tools/go/analysis"

// Analyzers is the whole suite, in the order the command lists them.
var Analyzers = []*analysis.Analyzer{
	DeferBeforeCheck,
	DeferLoop,
	LostClose,
	ErrReplace,
	ScopeMisuse,
}
