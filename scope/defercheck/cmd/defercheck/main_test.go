package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// binDir holds the command, built once for all tests.
var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "defercheck-test"); err != nil {
		panic(err)
	}
	// VerifyTestMain exits: the cleanup removes the command and exits itself.
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(binDir)
		os.Exit(code)
	}))
}

var buildOnce = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "defercheck")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// build returns the command, compiling it on first use.
func build(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	require.NoError(t, err)
	return bin
}

// sample copies testdata/sample, a module of its own, to a fresh directory.
func sample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"go.mod", "sample.go"} {
		b, err := os.ReadFile(filepath.Join("testdata", "sample", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	return dir
}

// run runs name with args in dir, outside this repository's go.work, and
// returns its combined output and exit code.
func run(t *testing.T, dir, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return string(out), exit.ExitCode()
	}
	require.NoError(t, err, "%s", out)
	return string(out), 0
}

// wantLines are the findings in testdata/sample, as file:line:col.
var wantLines = []string{"sample.go:12:2", "sample.go:25:3", "sample.go:35:2", "sample.go:47:4"}

func TestCommandReportsInStandardFormat(t *testing.T) {
	bin, dir := build(t), sample(t)
	out, code := run(t, dir, bin, "./...")
	require.Equal(t, 3, code, "exit code with findings\n%s", out)
	for _, at := range wantLines {
		require.Contains(t, out, filepath.Join(dir, at)+": ")
	}
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), len(wantLines), out)
}

func TestCommandAnalyzerFlagsTurnChecksOff(t *testing.T) {
	bin, dir := build(t), sample(t)
	out, _ := run(t, dir, bin, "-lostclose=false", "-deferloop=false", "./...")
	require.NotContains(t, out, "sample.go:25:3")
	require.NotContains(t, out, "sample.go:35:2")
	require.Contains(t, out, "sample.go:12:2")
}

func TestCommandJSON(t *testing.T) {
	bin, dir := build(t), sample(t)
	out, code := run(t, dir, bin, "-json", "./...")
	require.Equal(t, 0, code, out)
	// {"pkg": {"analyzer": [{"posn": ..., "message": ...}]}}
	var tree map[string]map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &tree), out)
	got := map[string]bool{}
	for _, byAnalyzer := range tree {
		for name := range byAnalyzer {
			got[name] = true
		}
	}
	for _, name := range []string{"deferbeforecheck", "deferloop", "lostclose", "errreplace"} {
		require.True(t, got[name], "no %s finding in %s", name, out)
	}
}

func TestCommandFixAppliesSuggestedFixes(t *testing.T) {
	bin, dir := build(t), sample(t)
	run(t, dir, bin, "-fix", "./...")
	got, err := os.ReadFile(filepath.Join(dir, "sample.go"))
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join("testdata", "sample", "sample.go.fixed"))
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

func TestCommandAsVetTool(t *testing.T) {
	bin, dir := build(t), sample(t)
	out, code := run(t, dir, "go", "vet", "-vettool="+bin, "./...")
	require.NotEqual(t, 0, code, out)
	for _, at := range wantLines {
		require.Contains(t, out, at+": ", out)
	}
}
