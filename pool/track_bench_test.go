package pool_test

import (
	"context"
	"testing"

	"github.com/reclaim-go/reclaim/internal/track"
	"github.com/reclaim-go/reclaim/pool"
)

// trackLevels are the levels of the registry that leases are measured at.
var trackLevels = []struct {
	name  string
	level track.Level
}{{"off", track.Off}, {"sampled", track.Sampled}, {"full", track.Full}}

// BenchmarkAcquireReleaseTracking measures an Acquire and Release of an idle
// resource with leases untracked, one in track.SampleRate tracked
// (RECLAIM_LEAKS=sampled), and every one tracked (RECLAIM_LEAKS=full, or
// scopetest.VerifyTestMain).
func BenchmarkAcquireReleaseTracking(b *testing.B) {
	for _, c := range trackLevels {
		b.Run(c.name, func(b *testing.B) {
			defer track.Set(c.level)()
			p := newTestPool(b, &resFactory{}, pool.Config[*poolRes]{MaxSize: 1})
			defer closePool(b, p)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				l, err := p.Acquire(ctx)
				if err != nil {
					b.Fatal(err)
				}
				l.Release()
			}
		})
	}
}
