package scope_test

import (
	"testing"

	"github.com/reclaim-go/reclaim/internal/track"
	"github.com/reclaim-go/reclaim/scope"
)

// BenchmarkScopeTracking measures a Scope made by New, given one cleanup
// and closed, with scopes untracked, one in track.SampleRate tracked
// (RECLAIM_LEAKS=sampled), and every one tracked (RECLAIM_LEAKS=full, or
// scopetest.VerifyTestMain).
func BenchmarkScopeTracking(b *testing.B) {
	for _, c := range []struct {
		name  string
		level track.Level
	}{{"off", track.Off}, {"sampled", track.Sampled}, {"full", track.Full}} {
		b.Run(c.name, func(b *testing.B) {
			defer track.Set(c.level)()
			var c nopCloser
			b.ReportAllocs()
			for b.Loop() {
				s := scope.New()
				s.DeferClose(&c)
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
