package bench

import (
	"io"
	"sync"
	"testing"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/scope"
)

// BenchmarkScopeParallel8 registers 8 closers as one parallel group of a
// Scope and closes it, against the hand-rolled equivalent: a goroutine per
// closer, a sync.WaitGroup and errors gathered under a mutex.
func BenchmarkScopeParallel8(b *testing.B) {
	cs := closers(8)
	b.Run("reclaim", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s scope.Scope
			p := s.Parallel()
			for _, c := range cs {
				p.DeferClose(c)
			}
			closeSink = s.Close()
		}
	})
	b.Run("waitgroup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			closeSink = waitGroupClose(cs)
		}
	})
}

func waitGroupClose(cs []io.Closer) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs error
	)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Close(); err != nil {
				mu.Lock()
				errs = multierr.Append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}
