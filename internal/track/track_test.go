package track_test

import (
	"bytes"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/track"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestOffTracksNothing(t *testing.T) {
	t.Cleanup(track.Set(track.Off)) // TestMain forces tracking on
	assert.Nil(t, track.Leases.Track(track.Off, "", 0))
	var e *track.Entry
	e.Done() // a nil entry is an untracked resource
	_, ok := e.Dropped("x")
	assert.False(t, ok)
}

func TestFullTracksEveryResourceInTheRegistryAndItsProfile(t *testing.T) {
	e := acquireHere()
	require.NotNil(t, e)
	live := track.Live(track.Leases)
	require.NotEmpty(t, live)
	assert.Contains(t, track.Report(live), "acquireHere")
	assert.Equal(t, 1, pprof.Lookup("reclaim.leases").Count())
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup("reclaim.leases").WriteTo(&buf, 1))
	assert.Contains(t, buf.String(), "acquireHere", "the profile shows who holds the lease")

	e.Done()
	e.Done() // idempotent
	assert.Empty(t, track.Live(track.Leases))
	assert.Equal(t, 0, pprof.Lookup("reclaim.leases").Count())
}

func acquireHere() *track.Entry { return track.Leases.Track(track.Full, "*net.TCPConn", 0) }

func TestDroppedIsRecordedOnceAndGroupedByStack(t *testing.T) {
	track.Reset()
	defer track.Reset()
	for range 3 {
		e := track.Scopes.Track(track.Full, "", 0)
		l, ok := e.Dropped("2 pending cleanups")
		require.True(t, ok)
		assert.Equal(t, "reclaim.scopes", l.Kind)
		_, ok = e.Dropped("again")
		assert.False(t, ok, "a resource is dropped once")
		e.Done() // ended already: nothing happens
	}
	got, lost := track.Dropped()
	assert.Len(t, got, 3)
	assert.Zero(t, lost)
	r := track.Report(got)
	assert.Equal(t, 1, strings.Count(r, "3× Scope dropped without being given back: 2 pending cleanups"), r)
	assert.Contains(t, r, "track_test.go")
}

func TestSampledTracksOneInSampleRate(t *testing.T) {
	t.Cleanup(track.Set(track.Off)) // TestMain forces tracking on
	n := 0
	for range 10 * track.SampleRate {
		if e := track.Refs.Track(track.Sampled, "", 0); e != nil {
			n++
			e.Done()
		}
	}
	assert.Equal(t, 10, n)
}

func TestForceTurnsTrackingOnWhateverTheOwnerSays(t *testing.T) {
	t.Cleanup(track.Set(track.Sampled))
	restore := track.Force()
	assert.True(t, track.Forced())
	for range 3 {
		e := track.Refs.Track(track.Off, "key", 0)
		assert.NotNil(t, e, "a forced run tracks every resource an owner left off")
		e.Done()
	}
	restore()
}

func TestForcesNestAndTheLastRestoreEndsThem(t *testing.T) {
	t.Cleanup(track.Set(track.Off))
	wasForced := track.Forced() // by TestMain
	first, second := track.Force(), track.Force()
	assert.Equal(t, track.Full, track.Current())
	first()
	first() // restoring twice counts once
	assert.Equal(t, track.Full, track.Current(), "a test still forces it")
	assert.True(t, track.Forced())
	second()
	assert.Equal(t, wasForced, track.Forced(), "back to what it was")
}

func TestTakeRemovesTheLeaksItReturns(t *testing.T) {
	track.Reset()
	defer track.Reset()
	track.Scopes.Track(track.Full, "mine", 0).Dropped("x")
	track.Scopes.Track(track.Full, "theirs", 0).Dropped("x")
	got := track.Take(func(l track.Leak) bool { return l.Detail == "mine" })
	require.Len(t, got, 1)
	assert.Equal(t, "mine", got[0].Detail)
	left, _ := track.Dropped()
	require.Len(t, left, 1)
	assert.Equal(t, "theirs", left[0].Detail)
}

func BenchmarkTrack(b *testing.B) {
	for _, c := range []struct {
		name string
		l    track.Level
	}{{"off", track.Off}, {"sampled", track.Sampled}, {"full", track.Full}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				track.Leases.Track(c.l, "", 0).Done()
			}
		})
	}
}
