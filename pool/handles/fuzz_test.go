package handles_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/fault"
	"github.com/reclaim-go/reclaim/pool/handles"
)

// handleModel is the obviously correct, sequential account of what a
// cache must do, against which FuzzHandles checks the real one.
type handleModel struct {
	maxOpen int
	idle    time.Duration
	keys    map[string]*modelHandle
	seq     int // release order, for the least-recently-released rule
}

type modelHandle struct {
	conn     *conn
	refs     int
	deadline time.Time // last release + idle
	released int       // seq of the last release
}

func (m *handleModel) open() int { return len(m.keys) }

// lru returns the least recently released idle key, or "".
func (m *handleModel) lru() string {
	best := ""
	for k, mh := range m.keys {
		if mh.refs == 0 && (best == "" || mh.released < m.keys[best].released) {
			best = k
		}
	}
	return best
}

// expire closes the idle handles whose deadline is not after now.
func (m *handleModel) expire(now time.Time) {
	if m.idle == 0 {
		return
	}
	for k, mh := range m.keys {
		if mh.refs == 0 && !mh.deadline.After(now) {
			delete(m.keys, k)
		}
	}
}

// nextDeadline returns the earliest idle deadline, or the zero Time.
func (m *handleModel) nextDeadline() time.Time {
	var next time.Time
	for _, mh := range m.keys {
		if mh.refs == 0 && m.idle > 0 && (next.IsZero() || mh.deadline.Before(next)) {
			next = mh.deadline
		}
	}
	return next
}

// FuzzHandles runs sequences of Get, Ref.Close, repeated Ref.Close, failing
// Opens and advancing time against a model, inside a synctest bubble where
// the janitor's timer fires exactly on time. After every step the set of
// open handles must be exactly the model's: no held handle is ever closed,
// no idle handle outlives its idle delay (the fake clock's resolution is
// exact, so not by any amount), MaxOpen evicts the least recently released,
// and every handle is closed exactly once (conn.Close panics otherwise).
// Open and every third Close may panic, panic(nil) or call Goexit, under a
// caller that recovers: the model stays exact.
func FuzzHandles(f *testing.F) {
	f.Add([]byte{0x05, 0, 0, 2, 0, 4, 20, 0, 1, 2, 0, 5, 0})
	f.Add([]byte{0x06, 0, 0, 0, 1, 0, 2, 0, 3, 2, 1, 0, 0, 2, 0, 3, 0, 4, 30, 5, 0})
	f.Add([]byte{0x09, 0, 0x80, 0, 0, 0, 0, 2, 0, 3, 0, 1, 1, 4, 9, 2, 0})
	f.Add([]byte{0x0d, 0, 1, 1, 2, 0, 3, 0, 2, 2, 0, 2, 1, 5, 0, 5, 0, 0, 0x81})
	// Callbacks that panic, panic(nil), call Goexit (the top bits of the
	// first byte); a Get whose Open misbehaves has arg bit 0x40.
	f.Add([]byte{0x15, 0, 0, 0, 0x41, 2, 0, 0, 2, 4, 20, 0, 3, 2, 0, 2, 0, 5, 0, 0, 0x42})
	f.Add([]byte{0x26, 0, 0, 0, 1, 0, 2, 0, 3, 2, 1, 0, 0x40, 2, 0, 3, 0, 4, 30, 5, 0})
	f.Add([]byte{0x39, 0, 0, 0, 1, 2, 0, 0, 2, 2, 0, 0, 0x43, 0, 3, 2, 1, 4, 9, 5, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		synctest.Test(t, func(t *testing.T) { runHandlesModel(t, data) })
	})
}

func runHandlesModel(t *testing.T, data []byte) {
	m := &handleModel{
		maxOpen: int(data[0] % 4),
		idle:    time.Duration(data[0]/4%4) * 10 * time.Second,
		keys:    map[string]*modelHandle{},
	}
	mode := data[0] / 16 % 4 // 0: callbacks behave
	data = data[1:]
	errOpen := errors.New("open failed")
	failNext, faultNext := false, false
	var closeFaults atomic.Bool
	closeFaults.Store(mode != 0)
	var closes atomic.Int32
	misbehave := func() {
		switch mode {
		case 1:
			panic("fuzz: callback panicked")
		case 2:
			panic(nil)
		case 3:
			runtime.Goexit()
		}
	}
	var o opener
	h := newCache(t, &o, handles.Config[string, *conn]{
		MaxOpen:     m.maxOpen,
		IdleTimeout: m.idle,
		Open: func(ctx context.Context, key string) (*conn, error) {
			if faultNext {
				misbehave()
			}
			if failNext {
				return nil, errOpen
			}
			return o.open(ctx, key)
		},
		Close: func(c *conn) error {
			err := c.Close()
			if closeFaults.Load() && closes.Add(1)%3 == 0 {
				misbehave()
			}
			return err
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	var refs, closedRefs []handles.Ref[string, *conn]

	for step := 0; len(data) >= 2; step, data = step+1, data[2:] {
		op, arg := data[0]%6, data[1]
		switch op {
		case 0, 1: // Get, failing when arg's top bit is set
			key := fmt.Sprint("k", arg%4)
			failNext, faultNext = arg&0x80 != 0, mode != 0 && arg&0x40 != 0
			mh := m.keys[key]
			if mh == nil && m.maxOpen > 0 && m.open() >= m.maxOpen {
				if victim := m.lru(); victim != "" {
					delete(m.keys, victim)
				}
			}
			var r handles.Ref[string, *conn]
			var err error
			out := fault.Call(func() { r, err = h.Get(t.Context(), key) })
			if out.Panicked || out.Goexited {
				// Open, or the Close of the victim, misbehaved: the key
				// is not open.
				require.Nil(t, mh, "step %d: Get of an open handle panicked", step)
				break
			}
			if mh == nil && failNext {
				require.ErrorIs(t, err, errOpen)
				break
			}
			require.NoError(t, err)
			if mh == nil {
				mh = &modelHandle{conn: r.Value()}
				m.keys[key] = mh
			}
			require.Same(t, mh.conn, r.Value(), "step %d: Get(%s) returned another handle", step, key)
			mh.refs++
			refs = append(refs, r)
		case 2: // close a reference
			if len(refs) == 0 {
				break
			}
			i := int(arg) % len(refs)
			r := refs[i]
			refs = append(refs[:i], refs[i+1:]...)
			key := r.Value().key
			mh := m.keys[key]
			var err error
			// The handle's Close may misbehave under the last release.
			if out := fault.Call(func() { err = r.Close() }); !out.Panicked && !out.Goexited {
				require.NoError(t, err)
			}
			closedRefs = append(closedRefs, r)
			mh.refs--
			if mh.refs == 0 {
				if m.maxOpen > 0 && m.open() > m.maxOpen {
					delete(m.keys, key)
					break
				}
				m.seq++
				mh.released, mh.deadline = m.seq, time.Now().Add(m.idle)
			}
		case 3: // close a closed reference again
			if len(closedRefs) > 0 {
				require.ErrorIs(t, closedRefs[int(arg)%len(closedRefs)].Close(), handles.ErrRefClosed)
			}
		case 4: // let time pass
			time.Sleep(time.Duration(arg%40) * time.Second)
		case 5: // sleep to exactly the next idle deadline
			if next := m.nextDeadline(); !next.IsZero() {
				time.Sleep(time.Until(next))
			}
		}
		// A step of the clock after every operation keeps release times
		// apart: the cache orders releases at the same instant
		// arbitrarily, and the model could not tell which it chose.
		time.Sleep(time.Millisecond)
		synctest.Wait() // let the janitor catch up with the clock
		m.expire(time.Now())
		checkModel(t, step, m, &o, h, len(refs))
	}

	// Cache.Close reports each reference it gives up on once: callbacks
	// behave from here on, so that its report is complete.
	closeFaults.Store(false)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := h.Close(ctx)
	if len(refs) == 0 {
		require.NoError(t, err)
	} else {
		require.ErrorIs(t, err, context.DeadlineExceeded)
		late := 0
		for _, e := range multierr.Errors(err) {
			var he *handles.HeldError
			if errors.As(e, &he) {
				late++
			}
		}
		require.Equal(t, len(refs), late)
	}
	require.Empty(t, o.live(), "open after Close")
	for _, r := range refs {
		require.NoError(t, r.Close())
	}
}

func checkModel(t *testing.T, step int, m *handleModel, o *opener, h *handles.Cache[string, *conn], refs int) {
	t.Helper()
	want := []string{}
	held, idle := 0, 0
	for k, mh := range m.keys {
		want = append(want, k)
		require.False(t, mh.conn.closed.Load(), "step %d: handle %s closed too early (refs %d)", step, k, mh.refs)
		if mh.refs > 0 {
			held++
		} else {
			idle++
		}
	}
	slices.Sort(want)
	require.Equal(t, want, o.live(), "step %d: open handles", step)
	s := h.Stats()
	require.Equal(t, len(want), s.Open, "step %d: Stats.Open", step)
	require.Equal(t, held, s.Held, "step %d: Stats.Held", step)
	require.Equal(t, idle, s.Idle, "step %d: Stats.Idle", step)
	require.Equal(t, refs, s.Refs, "step %d: Stats.Refs", step)
}
