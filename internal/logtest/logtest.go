// Package logtest captures what code under test logs: a buffer that the
// goroutines of pools, caches and groups may write concurrently, and a way
// to point slog.Default at one for the length of a test.
package logtest

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// A Buffer is a log destination safe for concurrent writes. The zero
// Buffer is empty and ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Default sends slog.Default to a new Buffer, as text, until t ends, and
// returns the Buffer. Tests that use it must not run in parallel: the
// default logger is the process's.
func Default(t testing.TB) *Buffer {
	b := new(Buffer)
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(b, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return b
}
