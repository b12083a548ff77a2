package goid_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/reclaim-go/reclaim/internal/goid"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestCurrentIsStableWithinAGoroutineAndDiffersAcrossLiveOnes(t *testing.T) {
	if !goid.Known {
		assert.Zero(t, goid.Current())
		t.Skip("no goroutine identity on this architecture")
	}
	me := goid.Current()
	assert.NotZero(t, me)
	grow(100) // a stack copy must not change the identity
	assert.Equal(t, me, goid.Current())

	const n = 16
	ids := make(chan uintptr, n)
	release := make(chan struct{})
	for range n {
		go func() { ids <- goid.Current(); <-release }()
	}
	seen := map[uintptr]bool{me: true}
	for range n {
		id := <-ids
		assert.False(t, seen[id], "two live goroutines share an identity")
		seen[id] = true
	}
	close(release)
}

//go:noinline
func grow(n int) int {
	var pad [256]byte
	if n == 0 {
		return int(pad[0])
	}
	return grow(n-1) + int(pad[n%256])
}

func BenchmarkCurrent(b *testing.B) {
	var sink uintptr
	for b.Loop() {
		sink += goid.Current()
	}
	_ = sink
}
