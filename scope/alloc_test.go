package scope_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/reclaim-go/reclaim/internal/track"
	"github.com/reclaim-go/reclaim/scope"
)

// skipUnderRace skips an allocation test under the race detector, and
// otherwise turns off, for the test, the leak tracking that the package's
// TestMain (scopetest.VerifyTestMain) forces on, since allocation counts
// are claims about untracked scopes.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	t.Cleanup(track.Set(track.Off))
}

type nopCloser struct{ closed int }

func (c *nopCloser) Close() error { c.closed++; return nil }

func TestStackScopeWithEightClosersAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	cs := make([]nopCloser, 8)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { closeOnStack(t, cs) }))
	assert.Equal(t, 1001, cs[0].closed)
}

// closeOnStack registers every closer of cs on a Scope on the stack and
// closes it.
func closeOnStack(t *testing.T, cs []nopCloser) {
	var s scope.Scope
	for i := range cs {
		s.DeferClose(&cs[i])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Past the eight inline entries, cleanups go to chunks recycled through a
// pool: once the pool holds them, a Scope of any size allocates nothing.
// (AllocsPerRun's warm-up run fills the pool.)
func TestStackScopeWithManyClosersAllocatesNothingInSteadyState(t *testing.T) {
	skipUnderRace(t)
	cs := make([]nopCloser, 300)
	assert.Zero(t, testing.AllocsPerRun(100, func() { closeOnStack(t, cs) }))
	assert.Equal(t, 101, cs[299].closed)
}

func TestNewWithLeakDetectionOffAllocatesOnlyTheScope(t *testing.T) {
	skipUnderRace(t)
	if v := os.Getenv("RECLAIM_LEAKS"); v != "" && v != "off" {
		t.Skip("RECLAIM_LEAKS turns leak detection on")
	}
	var cs [8]nopCloser
	allocs := testing.AllocsPerRun(1000, func() {
		s := scope.New()
		for i := range cs {
			s.DeferClose(&cs[i])
		}
		_ = s.Close()
	})
	assert.Equal(t, 1.0, allocs)
}

var counter int

func bump()                         { counter++ }
func bumpErr() error                { counter++; return nil }
func bumpCtx(context.Context) error { counter++; return nil }

// Item 10: which registrations are free, exactly. The func-shaped ones are
// free when the func is a top-level function or a literal that captures
// nothing: the compiler makes those static. A method value (mu.Unlock) or a
// closure that captures a variable is a new func value each time, which the
// Scope keeps past the call, so the compiler allocates it: one allocation
// per registration. Each case registers eight times on a Scope on the stack.
func TestWhichRegistrationsAllocate(t *testing.T) {
	skipUnderRace(t)
	var mu sync.Mutex
	var c nopCloser
	n := 0
	for _, tc := range []struct {
		name   string
		run    func()
		allocs float64
	}{
		{"DeferClose of a pointer", func() {
			var s scope.Scope
			for range 8 {
				s.DeferClose(&c)
			}
			_ = s.Close()
		}, 0},
		{"Defer, DeferFunc, DeferContext, OnFailure of functions", func() {
			var s scope.Scope
			for range 2 {
				s.Defer(bumpErr)
				s.DeferFunc(bump)
				s.DeferContext(bumpCtx)
				s.OnFailure(bumpErr)
			}
			_ = s.Close()
		}, 0},
		{"DeferFunc of literals capturing nothing", func() {
			var s scope.Scope
			for range 8 {
				s.DeferFunc(func() { counter++ })
			}
			_ = s.Close()
		}, 0},
		{"DeferFunc of a method value", func() {
			var s scope.Scope
			for range 8 {
				mu.Lock()
				s.DeferFunc(mu.Unlock)
				_ = s.Close() // unlocks: the next Lock does not wait
			}
			_ = s.Close()
		}, 8},
		{"DeferFunc of a capturing closure", func() {
			var s scope.Scope
			for range 8 {
				s.DeferFunc(func() { n++ })
			}
			_ = s.Close()
		}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.allocs, testing.AllocsPerRun(1000, tc.run))
		})
	}
}

var errBody = errors.New("body")

//go:noinline
func closeIntoAfter(c *nopCloser, body error) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)
	s.DeferClose(c)
	return body
}

// CloseInto must not make the error it appends to escape: retry closes an
// attempt's Scope this way on every attempt.
func TestCloseIntoAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	var c nopCloser
	for _, body := range []error{nil, errBody} {
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = closeIntoAfter(&c, body) }))
	}
}
