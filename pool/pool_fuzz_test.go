package pool_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/fault"
	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/retry"
)

// FuzzPool drives a pool with random sequences of Acquire (in the
// background, with timeouts), Release, Destroy, time passing, failing
// Opens, failing health checks, Open, Close and HealthCheck that panic,
// panic(nil) or call runtime.Goexit, misuse of given-back leases and Close,
// inside a synctest bubble,
// and checks its invariants after every step: never more than MaxSize
// resources, no resource lent to two holders, Stats consistent with what
// the test saw, and everything closed after Close.
//
// The first byte chooses the configuration; each later byte is one step,
// its low 3 bits the operation and the rest its argument.
func FuzzPool(f *testing.F) {
	f.Add([]byte{0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x06})
	f.Add([]byte{0x37, 0x00, 0x08, 0x10, 0x03, 0x13, 0x1b, 0x01, 0x00, 0x04, 0x00, 0x0b, 0x0c, 0x00, 0x06})
	f.Add([]byte{0xf2, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x03, 0x0b, 0x00, 0x05, 0x01, 0x0e, 0x00})
	f.Add([]byte{0x43, 0x00, 0x00, 0x1b, 0x13, 0x09, 0x05, 0x0a, 0x00, 0x16, 0x00, 0x07, 0x01})
	// Callbacks that panic (0x34), panic(nil) (0x54), call Goexit (0x74).
	f.Add([]byte{0x73, 0x34, 0x00, 0x00, 0x00, 0x01, 0x0b, 0x00, 0x07, 0x1b, 0x00, 0x02, 0x00, 0x13, 0x01, 0x00, 0x09, 0x0a})
	f.Add([]byte{0xb2, 0x54, 0x00, 0x00, 0x01, 0x02, 0x1b, 0x00, 0x00, 0x07, 0x13, 0x00, 0x01, 0x16})
	f.Add([]byte{0x5f, 0x74, 0x00, 0x00, 0x00, 0x00, 0x07, 0x1b, 0x01, 0x00, 0x02, 0x13, 0x00, 0x00, 0x0e, 0x06})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 || len(ops) > 200 {
			t.Skip()
		}
		synctest.Test(t, func(t *testing.T) { runPoolOps(t, ops[0], ops[1:]) })
	})
}

var (
	errFuzzOpen     = errors.New("fuzz: open refused")
	errFuzzPanicked = errors.New("fuzz: Acquire panicked or exited")
)

// fuzzFault makes every third call of a callback panic, panic(nil) or call
// runtime.Goexit, as mode says (0: never).
type fuzzFault struct {
	mode  atomic.Int32
	calls atomic.Int32
}

func (f *fuzzFault) maybe() {
	mode := f.mode.Load()
	if mode == 0 || f.calls.Add(1)%3 != 0 {
		return
	}
	switch mode {
	case 1:
		panic("fuzz: callback panicked")
	case 2:
		panic(nil)
	default:
		runtime.Goexit()
	}
}

// poolModel is what the test knows of the pool it drives.
type poolModel struct {
	t       *testing.T
	p       *pool.Pool[*poolRes]
	f       *resFactory
	maxSize int
	faults  *fuzzFault

	held    []pool.Lease[*poolRes] // lent and collected
	gone    []goneLease            // given back: any use is misuse
	results chan acquired
	pending int // Acquires in flight

	ends   uint64 // leases the test gave back while the pool had them out
	late   uint64 // leases Close destroyed under the test
	closed bool
}

func runPoolOps(t *testing.T, conf byte, ops []byte) {
	maxSize := 1 + int(conf&3)
	faults := &fuzzFault{}
	fac := &resFactory{maxSize: maxSize}
	cfg := pool.Config[*poolRes]{
		Open: func(ctx context.Context) (*poolRes, error) {
			faults.maybe()
			return fac.Open(ctx)
		},
		Close: func(r *poolRes) error {
			err := r.Close()
			faults.maybe()
			return err
		},
		MaxSize:     maxSize,
		MinIdle:     int(conf>>2&3) % (maxSize + 1),
		OpenBackoff: retry.Policy{InitialDelay: time.Second, MaxDelay: 4 * time.Second},
		Logger:      slog.New(slog.DiscardHandler),
		HealthCheck: func(_ context.Context, r *poolRes) error {
			faults.maybe()
			if r.bad.Load() {
				return errors.New("fuzz: bad resource")
			}
			return nil
		},
		HealthCheckAfter: 30 * time.Second,
	}
	if conf&0x10 != 0 {
		cfg.MaxIdleTime = time.Minute
	}
	if conf&0x20 != 0 {
		cfg.MaxLifetime = 5 * time.Minute
	}
	if conf&0x40 != 0 {
		cfg.LeakThreshold = 2 * time.Minute
	}
	if conf&0x80 != 0 {
		cfg.MaxWaiters = 2
	}
	p, err := pool.New(cfg)
	require.NoError(t, err)
	m := &poolModel{t: t, f: fac, maxSize: maxSize, faults: faults, p: p, results: make(chan acquired, 64)}

	for _, op := range ops {
		arg := int(op >> 3)
		switch op & 7 {
		case 0:
			m.acquire(time.Duration(arg%4) * time.Second)
		case 7:
			if len(m.held) > 0 {
				m.held[arg%len(m.held)].Value().bad.Store(true)
			}
		case 1:
			m.giveBack(arg, false)
		case 2:
			m.giveBack(arg, true)
		case 3:
			time.Sleep([]time.Duration{time.Millisecond, time.Second, time.Minute, 10 * time.Minute}[arg%4])
		case 4:
			switch arg % 4 {
			case 0:
				fac.setErr(errFuzzOpen)
			case 1:
				fac.setErr(nil)
			default: // callbacks misbehave, or stop
				faults.mode.Store(int32(arg/4) % 4)
			}
		case 5:
			m.misuse(arg)
		case 6:
			m.close(time.Duration(arg%2) * time.Second)
		}
		synctest.Wait()
		m.collect()
		m.check()
	}

	// Give everything back, including what waiters get from it, close,
	// and check that nothing is left open.
	for len(m.held) > 0 {
		for len(m.held) > 0 {
			m.giveBack(0, false)
		}
		synctest.Wait()
		m.collect()
	}
	m.close(time.Second)
	synctest.Wait()
	m.collect()
	require.Empty(t, m.held)
	require.Zero(t, m.pending)
	require.Zero(t, fac.live(), "everything is closed after Close")
	st := m.p.Stats()
	require.Zero(t, st.Total)
	require.Zero(t, st.Constructing)
	require.Zero(t, st.Waiters)
	require.False(t, fac.overflow, "more than MaxSize resources open")
}

func (m *poolModel) acquire(timeout time.Duration) {
	if m.pending >= 8 {
		return
	}
	m.pending++
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		r := acquired{err: errFuzzPanicked}
		defer func() {
			_ = recover() // a callback's panic, or Goexit: the pool must stay consistent
			m.results <- r
		}()
		l, err := m.p.Acquire(ctx)
		r = acquired{l, err}
	}()
}

// collect takes in the results of the Acquires that returned.
func (m *poolModel) collect() {
	for {
		select {
		case r := <-m.results:
			m.pending--
			switch {
			case r.err == nil:
				r.l.Value().hold(m.t)
				m.held = append(m.held, r.l)
			case errors.Is(r.err, context.DeadlineExceeded), errors.Is(r.err, pool.ErrBusy),
				errors.Is(r.err, errFuzzOpen), errors.Is(r.err, pool.ErrClosed),
				errors.Is(r.err, errFuzzPanicked), errors.As(r.err, new(*pool.PanicError)),
				strings.HasPrefix(r.err.Error(), "pool: Open failed"):
			default:
				m.t.Fatalf("Acquire returned an unexpected error: %v", r.err)
			}
		default:
			return
		}
	}
}

func (m *poolModel) giveBack(i int, destroy bool) {
	if len(m.held) == 0 {
		return
	}
	i %= len(m.held)
	l := m.held[i]
	m.held = append(m.held[:i], m.held[i+1:]...)
	l.Value().unhold()
	if !m.closed {
		m.ends++
	}
	// Close may panic or exit under Release and Destroy.
	fault.Call(func() {
		if destroy {
			l.Destroy()
		} else {
			l.Release()
		}
	})
	m.gone = append(m.gone, goneLease{l, destroy})
	if len(m.gone) > 8 {
		m.gone = m.gone[1:]
	}
}

func (m *poolModel) misuse(i int) {
	if len(m.gone) == 0 {
		return
	}
	g := m.gone[i%len(m.gone)]
	assert.Panics(m.t, func() { g.l.Value() })
	assert.Panics(m.t, func() { g.l.Release() })
	assert.Panics(m.t, func() { g.l.Destroy() })
	if g.destroyed {
		assert.NoError(m.t, g.l.Close(), "Close after Destroy is a no-op")
	} else {
		assert.ErrorIs(m.t, g.l.Close(), pool.ErrLeaseDone)
	}
}

type goneLease struct {
	l         pool.Lease[*poolRes]
	destroyed bool
}

func (m *poolModel) close(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	first := !m.closed
	m.closed = true
	// Close(ctx) reports each lease it gives up on once: callbacks behave
	// from here on, so that its report is complete.
	m.faults.mode.Store(0)
	err := m.p.Close(ctx)
	if !first {
		require.NoError(m.t, err, "a second Close")
		return
	}
	for _, e := range multierr.Errors(err) {
		var le *pool.LeaseError
		if errors.As(e, &le) {
			m.late++
		}
	}
	if err != nil {
		// Close gave up: on the leases held, or on an Open still running
		// (whose resource is destroyed when it returns).
		require.ErrorIs(m.t, err, context.DeadlineExceeded)
		require.EqualValues(m.t, len(m.held), m.late, "every lease held is reported")
		// Their resources are destroyed: giving them back now is
		// harmless and counts nothing.
		for _, l := range m.held {
			l.Value().unhold()
			require.NoError(m.t, l.Close())
		}
		m.held = nil
	}
	synctest.Wait()
	require.Zero(m.t, m.f.live(), "everything is closed after Close")
}

func (m *poolModel) check() {
	t := m.t
	st := m.p.Stats()
	live := m.f.live()
	running, _ := m.f.runningNow()
	require.False(t, m.f.overflow, "more than MaxSize resources open")
	require.LessOrEqual(t, st.Total+st.Constructing, m.maxSize)
	require.EqualValues(t, live, st.Total, "Total is what is open")
	require.Equal(t, st.Total, st.Idle+st.InUse, "every open resource is idle or in use")
	require.Equal(t, len(m.held), st.InUse, "InUse is what the test holds")
	require.Equal(t, m.pending, st.Waiters, "Waiters is what waits")
	require.Equal(t, running, st.Constructing)
	require.Equal(t, st.Acquires, uint64(len(m.held))+m.ends+m.late, "every lease is held, ended or destroyed by Close")
	require.Equal(t, m.ends, st.HoldDurations.Count())
	require.Equal(t, st.Acquires, st.WaitDurations.Count())
	require.Equal(t, st.Opened, st.Destroyed()+uint64(st.Total))
	if m.closed {
		require.Zero(t, st.Total)
	}
}
