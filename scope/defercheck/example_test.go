package defercheck_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/reclaim-go/reclaim/scope/defercheck"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/packages"
)

// The analyzers' names are the command's flags.
func Example() {
	for _, a := range defercheck.Analyzers {
		fmt.Println(a.Name)
	}
	// Output:
	// deferbeforecheck
	// deferloop
	// lostclose
	// errreplace
	// scopemisuse
}

// Any analysis driver can run the suite; here, x/tools' checker over the
// sample module the command's tests use.
func Example_checker() {
	cfg := &packages.Config{
		Mode: packages.LoadSyntax,
		Dir:  filepath.Join("cmd", "defercheck", "testdata", "sample"),
		Env:  append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod"),
	}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		fmt.Println(err)
		return
	}
	graph, err := checker.Analyze(defercheck.Analyzers, pkgs, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	var lines []string
	for act := range graph.All() {
		for _, d := range act.Diagnostics {
			posn := act.Package.Fset.Position(d.Pos)
			msg, _, _ := strings.Cut(d.Message, ":")
			lines = append(lines, fmt.Sprintf("%s:%d %s: %s", filepath.Base(posn.Filename), posn.Line, act.Analyzer.Name, msg))
		}
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// sample.go:12 deferbeforecheck: cleanup of f deferred before err is checked
	// sample.go:25 deferloop: defer f.Close() in a loop
	// sample.go:35 lostclose: error of f.Close() is dropped, but f was opened for writing and Close is where its writes can fail; register it on a scope.Scope and defer s.CloseInto(&err) on a named error result
	// sample.go:47 errreplace: the error of f.Close() replaces err, which may already hold the function's error
}
