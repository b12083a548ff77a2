package scope

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// checkChunks checks the invariants of an open Scope's entries: ids sorted
// oldest first, n counting them all, no chunk empty, and any two
// neighbouring chunks holding more than one chunk's worth, so that chunks
// are more than half full on average whatever was taken out.
func checkChunks(t *testing.T, s *Scope) {
	t.Helper()
	var chain []*chunk // newest first
	for c := s.top; c != nil; c = c.prev {
		chain = append(chain, c)
	}
	n := s.ninl
	var last uint64
	for i := range s.ninl {
		if id := s.inline[i].id(); id <= last {
			t.Fatalf("inline entry %d has id %d after %d", i, id, last)
		} else {
			last = id
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		c := chain[i]
		if c.n == 0 {
			t.Fatalf("chunk %d of %d is empty", i, len(chain))
		}
		if i > 0 && c.n+chain[i-1].n <= chunkEntries {
			t.Fatalf("neighbouring chunks hold %d and %d entries: they fit in one", c.n, chain[i-1].n)
		}
		for j := range c.n {
			if id := c.e[j].id(); id <= last {
				t.Fatalf("chunk entry %d has id %d after %d", j, id, last)
			} else {
				last = id
			}
		}
		for j := c.n; j < chunkEntries; j++ {
			if c.e[j] != (entry{}) {
				t.Fatalf("unused chunk entry %d is not zero", j)
			}
		}
		n += c.n
	}
	if n != s.n {
		t.Fatalf("n is %d, the entries number %d", s.n, n)
	}
}

func nop() error { return nil }

func TestChunksStayDenseWhateverHandlesTake(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 3))
		var s Scope
		var hs []Handle
		for range 10 {
			// Grow to a random size, then cancel at random down to a
			// fraction of it, so that chunks thin out and merge.
			for target := 50 + rng.IntN(400); len(hs) < target; {
				hs = append(hs, s.Defer(nop))
				checkChunks(t, &s)
			}
			for low := rng.IntN(len(hs) / 4); len(hs) > low; {
				k := rng.IntN(len(hs))
				if !hs[k].Cancel() {
					t.Fatalf("seed %d: cancel failed", seed)
				}
				hs = slices.Delete(hs, k, k+1)
				checkChunks(t, &s)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
