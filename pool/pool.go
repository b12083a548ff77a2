package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/internal/closing"
	"github.com/reclaim-go/reclaim/internal/stack"
	"github.com/reclaim-go/reclaim/internal/track"
	"github.com/reclaim-go/reclaim/retry"
)

// ErrBusy is returned by [Pool.Acquire] when it would have to wait while
// [Config].MaxWaiters callers are already waiting.
var ErrBusy = errors.New("pool: too many waiters")

// ErrClosed is returned by [Pool.Acquire] once [Pool.Close] has been called.
var ErrClosed = errors.New("pool: closed")

// Pool is a bounded pool of expensive resources: connections, protocol
// clients, other handles that have no pool of their own. [Pool.Acquire]
// lends a resource as a [Lease], which is given back with [Lease.Release]
// (to be reused) or [Lease.Destroy] (when it is broken).
//
// Idle resources are reused most recently used first, so that a pool
// larger than its load lets its least used resources reach MaxIdleTime.
// Callers that find nothing idle wait in a first-come, first-served queue,
// each on a channel of its own (no goroutine per waiter), and are served
// directly by the next release or construction. Constructions run in
// goroutines of their own, at most [Config].MaxConstructing at once, and
// back off after failures.
//
// At most one background goroutine runs, and only while there is work for
// it: resources to expire (MaxIdleTime, MaxLifetime), MinIdle to restore
// after a backoff, or tracked leases to watch (LeakThreshold). It is gone
// when [Pool.Close] returns, so a Pool is clean under goleak and inside
// testing/synctest bubbles.
//
// A Pool is created by [New]; the zero Pool is not usable. A Pool is safe
// for concurrent use and must not be copied. Every lease must be given
// back; [Pool.Close] says which were not.
type Pool[T any] struct {
	// mu protects the fields up to the read-only ones. It has a cache line
	// of its own, so that callers spinning on it do not take away the
	// line of the fields its holder works on.
	mu sync.Mutex
	_  [64 - 8]byte

	// The fields Acquire and Release touch, together on few cache lines:
	// each line the holder of mu touches may have to come from the other
	// core.

	// idle holds the idle resources, least recently used first: Acquire
	// takes from the end, and the front is where MaxIdleTime strikes
	// first.
	idle         []*poolSlot[T]
	waiters      waitQueue[T]
	total        int // resources open: idle, leased, dropped or being destroyed
	leased       int // resources lent out (health checks included), dropped ones excluded
	constructing int // Open calls running
	dropped      []*poolSlot[T]
	closed       bool
	backoffUntil time.Duration // see backoff
	// Hold and wait times are sampled (see Stats.HoldDurations and
	// WaitDurations): a lease or a wait that is not timed reads no clock.
	// holdWarmup and waitWarmup count those still to be timed before
	// sampling starts; lastHold and lastWait are the latest timed, recorded
	// again for each one that is not; clockSeen is the latest clock
	// reading, the start of a lease that is not timed. sample is the state
	// of the generator that picks what to time, a xorshift: math/rand
	// costs as much as the rest of the fast path.
	holdWarmup, waitWarmup int
	lastHold, lastWait     time.Duration
	clockSeen              time.Duration
	sample                 uint32
	// The counters every Acquire and Release moves, kept here rather than
	// in stats, whose lines are elsewhere; statsLocked adds them in.
	// noWait counts the Acquires that took an idle resource at once, in
	// WaitDurations.Counts[0]; waitSum and holdSum are the histograms'
	// Sums.
	acquires, waits, noWait    uint64
	waitTime, waitSum, holdSum time.Duration
	// heldAgain and waitedAgain count the leases and waits recorded as
	// lastHold and lastWait since those were set, not yet added to the
	// histograms' Counts: their lines are not touched for those.
	heldAgain, waitedAgain uint64

	// all holds every resource counted in total, for the janitor's scans
	// and Close's report; poolSlot.index is the position.
	all []*poolSlot[T]
	// backoff paces Open after failures: no Open starts before
	// backoffUntil (above), and openErr is what waiters get meanwhile.
	backoff     retry.Backoff
	openErr     error
	janitor     bool           // the background goroutine is running
	janitorNext time.Duration  // when it wakes up next
	janitorDone chan struct{}  // closed when it exits
	closeDone   chan struct{}  // closed when the first Close returns
	drained     chan struct{}  // closed when Close has nothing left to wait for
	stats       Stats          // counters only; gauges are filled by Stats
	kept        closing.Errors // Close errors and panics nobody has seen, for Close
	openLog     closing.Throttle
	closeLog    closing.Throttle
	// closeAgain is set when a Close was cut short by a panicking or
	// exiting Close callback: the next Close does the work again.
	closeAgain bool

	// read-only after New
	cfg             Config[T]
	epoch           time.Time // the pool's times are durations since epoch: see now
	maxConstructing int
	openTimeout     time.Duration
	track           bool               // LeakThreshold > 0
	closeCtx        context.Context    // done when Close is called
	cancelOpens     context.CancelFunc // cancels closeCtx
	wake            chan struct{}      // buffered: asks the janitor to look again now
	waiterPool      sync.Pool          // of *poolWaiter[T]
	// contended is set when an Acquire waits and cleared when one finds
	// a resource idle: a hint for Acquire to take a waiter before the
	// lock. Written only when it changes, so its line stays shared.
	contended atomic.Bool
}

// poolSlot holds one resource. A slot lives as long as its resource; the
// generation tells the lease it is lent under from every earlier one.
type poolSlot[T any] struct {
	p     *Pool[T]
	value T // set before the slot is published, then read-only
	// gen is bumped when a lease ends. A Lease remembers gen from when it
	// started: a lease whose number no longer matches has ended, and no
	// copy of it can reach the resource again.
	gen atomic.Uint64
	// destroyedBy is the generation of the lease that destroyed the
	// resource, plus one (zero: none), for Lease.Close after Destroy.
	destroyedBy atomic.Uint64

	// guarded by p.mu
	state     slotState
	reason    destroyReason // why it is being destroyed
	index     int           // in p.all
	expires   time.Duration // end of its lifetime; zero without MaxLifetime
	idleSince time.Duration // when it last became idle
	acquired  time.Duration // when its current lease started; see timed
	// timed is set when the current lease's Acquire read the clock: then
	// acquired is exact, and the hold is timed. Otherwise acquired is the
	// pool's previous clock reading. Written under p.mu when lent, read by
	// the holder's release.
	timed    bool
	trace    stack.Trace // where its current lease was acquired, when tracking
	reported bool        // its current lease was reported as held too long
}

type slotState uint8

const (
	slotIdle       slotState = iota
	slotLeased               // lent out, or being health-checked
	slotDropped              // its lease was collected without Release
	slotDestroying           // out of use; Close is running or about to run
)

// destroyReason says why a resource is destroyed, for the counters.
type destroyReason uint8

const (
	destroyIdle destroyReason = iota
	destroyLifetime
	destroyHealthCheck
	destroyExplicit
	destroyClose // by Pool.Close, which returns the errors
	destroyDropped
	// destroyLate is a destruction the closed pool makes outside Close:
	// a lease given back, a health check that spanned Close's start. Its
	// error is kept for Close, or logged once Close has returned.
	destroyLate
)

// New returns a pool configured by cfg, or an error naming the first
// invalid field of cfg. The pool opens nothing until the first Acquire,
// except the MinIdle resources it starts opening in the background at once.
func New[T any](cfg Config[T]) (*Pool[T], error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Close == nil {
		cfg.Close, _ = closing.Closer[T]() // checked above
	}
	b, _ := cfg.OpenBackoff.Backoff() // checked above
	p := &Pool[T]{
		cfg:             cfg,
		maxConstructing: cfg.MaxConstructing,
		openTimeout:     cfg.OpenTimeout,
		track:           cfg.LeakThreshold > 0,
		wake:            make(chan struct{}, 1),
		backoff:         b,
		epoch:           time.Now(),
		holdWarmup:      sampleWarmup,
		waitWarmup:      sampleWarmup,
		sample:          rand.Uint32() | 1, // xorshift needs a state other than 0
	}
	if p.maxConstructing == 0 {
		p.maxConstructing = min(cfg.MaxSize, defaultMaxConstructing)
	}
	if p.openTimeout == 0 {
		p.openTimeout = defaultOpenTimeout
	}
	p.closeCtx, p.cancelOpens = context.WithCancel(context.Background())
	p.waiterPool.New = func() any { return &poolWaiter[T]{ch: make(chan waitResult[T], 1)} }
	p.mu.Lock()
	p.fillLocked(context.Background(), p.now())
	p.mu.Unlock()
	return p, nil
}

// Acquire lends a resource: an idle one if there is one (the most recently
// used), or else the first one released or constructed after every
// earlier waiter is served. While it waits, Acquire starts constructions
// as needed within MaxSize and MaxConstructing. A construction outlives an
// Acquire that gives up: the resource lands in the pool for the next
// caller.
//
// Acquire returns:
//   - an [*AcquireError] wrapping ctx.Err() (and its cause) if ctx is done
//     before a resource is lent, including when it is done on entry; it
//     carries a snapshot of the pool's [Stats];
//   - [ErrBusy] if it would wait while MaxWaiters callers already are
//     (see below);
//   - [ErrClosed] once [Pool.Close] has been called;
//   - an error wrapping the error from Open, when the Open that was to
//     serve the caller failed. One failed Open fails one caller at most:
//     the newest waiter, and none while the leases out and the Opens
//     running are at least as many as the waiters (a release or another
//     construction will serve them). Only during an outage, while the pool
//     backs off after a failure with no lease out and no Open running, do
//     the waiters fail at once, with the last Open error, instead of
//     waiting for a construction the backoff forbids; otherwise a caller
//     waits until its own ctx is done;
//   - a [*PanicError] when the Open that was to serve it called
//     runtime.Goexit; when that Open panicked, Acquire panics with the
//     *PanicError, in the caller's goroutine.
//
// MaxWaiters counts only the callers beyond what the pool can still
// construct within MaxSize: a caller for whom a construction can start is
// not a waiter.
//
// The lease must be given back exactly once, with [Lease.Release],
// [Lease.Destroy] or [Lease.Close]. Acquire allocates nothing when a
// resource is idle or released to it, unless LeakThreshold is set.
func (p *Pool[T]) Acquire(ctx context.Context) (Lease[T], error) {
	if ctx.Err() != nil {
		return Lease[T]{}, p.acquireError(ctx, 0)
	}
	var trace stack.Trace
	if p.track {
		trace = stack.Capture(1)
	}
	// While Acquires wait, take the waiter before the lock, which is
	// then held for less time.
	var w *poolWaiter[T]
	if p.contended.Load() {
		w = p.waiterPool.Get().(*poolWaiter[T])
	}
	p.mu.Lock()
	// The fast path: an idle resource that needs no check. It waited no
	// time, so it reads the clock only to time the lease (see
	// sampleLocked), to check a lifetime or to restore MinIdle. The
	// rest, rarer, is out of line in acquireLocked.
	if n := len(p.idle); n > 0 && !p.closed && p.dropped == nil && p.cfg.HealthCheck == nil {
		s := p.idle[n-1]
		timed := p.sampleLocked(&p.holdWarmup)
		now := p.clockSeen
		if timed || s.expires != 0 || n <= p.cfg.MinIdle {
			now = p.nowLocked()
		}
		if s.expires == 0 || now < s.expires {
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.lendLocked(s, now, trace, timed)
			p.acquires++
			p.noWait++ // WaitDurations.Counts[0]; Sum is unchanged
			if n <= p.cfg.MinIdle {
				p.fillLocked(context.Background(), now)
			}
			p.mu.Unlock()
			if w != nil {
				p.contended.Store(false)
				p.waiterPool.Put(w)
			}
			return p.lease(s), nil
		}
	}
	if len(p.idle) == 0 && !p.closed && p.dropped == nil && p.backoffUntil == 0 {
		// Nothing to check before waiting, and no backoff to compare
		// the time with: the clock is read only if the wait is timed.
		return p.waitLocked(ctx, p.clockSeen, p.clockSeen, false, trace, w)
	}
	if w != nil {
		p.waiterPool.Put(w) // unused, and clean: see putWaiter
	}
	return p.acquireLocked(ctx, p.nowLocked(), trace)
}

// acquireLocked is Acquire's general case, entered with p.mu held: it
// destroys what it finds expired or broken on the way, health-checks, and
// waits.
func (p *Pool[T]) acquireLocked(ctx context.Context, start time.Duration, trace stack.Trace) (Lease[T], error) {
	now := start
	for {
		if p.closed {
			p.mu.Unlock()
			return Lease[T]{}, ErrClosed
		}
		if len(p.dropped) > 0 {
			doomed := p.takeDroppedLocked()
			p.mu.Unlock()
			p.destroyAll(doomed)
			now = p.now()
			p.mu.Lock()
			continue
		}
		n := len(p.idle)
		if n == 0 {
			break
		}
		s := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if s.expires != 0 && now >= s.expires {
			p.retireLocked(s, destroyLifetime)
			p.mu.Unlock()
			p.destroy(s)
			now = p.now()
			p.mu.Lock()
			continue
		}
		p.lendLocked(s, now, trace, true)
		if p.cfg.HealthCheck != nil && now-s.idleSince >= p.cfg.HealthCheckAfter {
			p.mu.Unlock()
			err := p.healthCheck(ctx, s)
			p.mu.Lock()
			if s.state != slotLeased { // Close gave up waiting and destroyed it
				p.mu.Unlock()
				return Lease[T]{}, ErrClosed
			}
			if p.closed { // Close began during the check: lend nothing more
				p.leased--
				p.retireLocked(s, destroyLate)
				p.mu.Unlock()
				p.destroy(s)
				return Lease[T]{}, ErrClosed
			}
			if err != nil {
				p.leased--
				p.retireLocked(s, destroyHealthCheck)
				p.mu.Unlock()
				p.destroy(s)
				if ctx.Err() != nil {
					return Lease[T]{}, p.acquireError(ctx, p.now()-start)
				}
				now = p.now()
				p.mu.Lock()
				continue
			}
		}
		p.countAcquireLocked(now-start, false)
		if len(p.idle) < p.cfg.MinIdle {
			p.fillLocked(context.Background(), now)
		}
		p.mu.Unlock()
		return p.lease(s), nil
	}

	return p.waitLocked(ctx, start, now, true, trace, nil)
}

// waitLocked queues the caller, Acquire called at start, and waits. now
// is the latest clock reading; start and now are exact only if clocked,
// which they need not be without a backoff. w is a waiter from
// p.waiterPool, or nil to take one here. Caller must hold p.mu; it is let
// go.
func (p *Pool[T]) waitLocked(ctx context.Context, start, now time.Duration, clocked bool, trace stack.Trace, w *poolWaiter[T]) (Lease[T], error) {
	// Nothing idle: queue up, and make sure something is coming. Callers
	// that a construction can serve are not waiters for MaxWaiters.
	if p.cfg.MaxWaiters > 0 && p.waiters.n-p.growthLocked(now) >= p.cfg.MaxWaiters {
		p.stats.Busy++
		p.mu.Unlock()
		if w != nil {
			p.waiterPool.Put(w)
		}
		return Lease[T]{}, ErrBusy
	}
	if w == nil {
		w = p.waiterPool.Get().(*poolWaiter[T])
		if !p.contended.Load() {
			p.contended.Store(true)
		}
	}
	w.trace, w.timed = trace, p.sampleLocked(&p.waitWarmup)
	if w.timed && !clocked {
		start = p.nowLocked()
		now = start
	}
	w.start = start
	p.waiters.pushBack(w)
	p.fillLocked(ctx, now)
	p.mu.Unlock()
	if !w.timed && !clocked && ctx.Done() != nil {
		// Read outside the lock: the start of a wait that is not timed
		// is read only by this goroutine, if it gives up, which it
		// cannot do when ctx is never done.
		w.start = p.now()
	}
	return p.wait(ctx, w)
}

// wait blocks until w is served or ctx is done.
func (p *Pool[T]) wait(ctx context.Context, w *poolWaiter[T]) (Lease[T], error) {
	var r waitResult[T]
	if done := ctx.Done(); done == nil {
		r = <-w.ch // a plain receive costs less than a select
	} else {
		select {
		case r = <-w.ch:
		case <-done:
			return p.giveUp(ctx, w)
		}
	}
	p.putWaiter(w)
	if r.s == nil {
		return Lease[T]{}, r.failure()
	}
	return p.lease(r.s), nil
}

// giveUp ends the wait of w, whose ctx is done.
func (p *Pool[T]) giveUp(ctx context.Context, w *poolWaiter[T]) (Lease[T], error) {
	p.mu.Lock()
	if p.waiters.queued(w) {
		err := p.acquireErrorLocked(ctx, p.now()-w.start) // the snapshot counts w
		p.waiters.remove(w)
		p.mu.Unlock()
		p.putWaiter(w)
		return Lease[T]{}, err
	}
	p.mu.Unlock()
	// Served between ctx being done and the lock: the delivery is in the
	// channel. An error is as good an answer as ctx's; a resource goes
	// back as if never lent, to the next waiter or the idle list.
	r := <-w.ch
	start := w.start
	p.putWaiter(w) // w belongs to the next Acquire from here on
	if r.s == nil {
		return Lease[T]{}, r.failure()
	}
	p.giveBack(r.s, false, r.waited)
	return Lease[T]{}, p.acquireError(ctx, p.now()-start)
}

func (p *Pool[T]) putWaiter(w *poolWaiter[T]) {
	if p.track { // otherwise it is empty: no store to its line
		w.trace = stack.Trace{}
	}
	p.waiterPool.Put(w)
}

// lease makes the Lease for s, just lent by the caller.
func (p *Pool[T]) lease(s *poolSlot[T]) Lease[T] {
	l := Lease[T]{s: s, gen: s.gen.Load()}
	if p.track || track.Current() != track.Off {
		l.t = p.trackLease(s, l.gen)
	}
	return l
}

// lendLocked marks s, just taken from the idle list or made, as lent from
// now, which is a clock reading if timed is set. Caller must hold p.mu.
func (p *Pool[T]) lendLocked(s *poolSlot[T], now time.Duration, trace stack.Trace, timed bool) {
	s.state = slotLeased
	s.acquired = now
	s.timed = timed
	if timed {
		p.clockSeen = max(p.clockSeen, now)
	}
	p.leased++
	if p.track {
		s.trace = trace
		s.reported = false
		p.wantJanitorLocked(now + p.cfg.LeakThreshold)
	}
}

// countAcquireLocked counts a lease that started after waiting for waited.
// Caller must hold p.mu.
func (p *Pool[T]) countAcquireLocked(waited time.Duration, queued bool) {
	p.acquires++
	if queued {
		p.waits++
		p.waitTime += waited
	}
	p.stats.WaitDurations.Counts[histBucket(waited)]++
	p.waitSum += waited
}

// handLocked lends s to the waiter of e, just taken out of the queue, at
// now, a clock reading if the wait is timed, and returns the wait it
// counted. The caller wakes the waiter, with e.w.serve. It reads the
// waiter itself only when tracking. Caller must hold p.mu.
func (p *Pool[T]) handLocked(s *poolSlot[T], e waitEntry[T], now time.Duration) (waited time.Duration) {
	var trace stack.Trace
	if p.track {
		trace = e.w.trace
	}
	p.lendLocked(s, now, trace, e.timed)
	if e.timed {
		p.flushWaitsLocked()
		p.lastWait = now - e.start
		p.stats.WaitDurations.Counts[histBucket(p.lastWait)]++
	} else {
		p.waitedAgain++
	}
	p.acquires++
	p.waits++
	p.waitTime += p.lastWait
	p.waitSum += p.lastWait
	return p.lastWait
}

// flushWaitsLocked adds the waits recorded again as lastWait to the
// histogram. Caller must hold p.mu.
func (p *Pool[T]) flushWaitsLocked() {
	p.stats.WaitDurations.addAgain(p.lastWait, &p.waitedAgain)
}

// putLocked lends s, which is ready for use, to the first waiter and wakes
// it, or else makes it idle, and reports whether it did. It does not when
// MaxIdle resources are idle already: the caller then retires s and
// destroys it. Caller must hold p.mu.
func (p *Pool[T]) putLocked(s *poolSlot[T], now time.Duration) bool {
	if e := p.waiters.popFront(); e.w != nil {
		e.w.serve(s, p.handLocked(s, e, now))
		return true
	}
	return p.idleLocked(s, now)
}

// idleLocked makes s idle, and reports whether it did: not when MaxIdle
// resources are idle already. now may be stale unless MaxIdleTime or a
// HealthCheck is set, or s has a lifetime. Caller must hold p.mu.
func (p *Pool[T]) idleLocked(s *poolSlot[T], now time.Duration) bool {
	if p.cfg.MaxIdle > 0 && len(p.idle) >= p.cfg.MaxIdle {
		return false
	}
	s.state = slotIdle
	s.idleSince = now
	p.idle = append(p.idle, s)
	if p.cfg.MaxIdleTime > 0 || s.expires != 0 {
		p.scheduleIdleLocked(s)
	}
	return true
}

// giveBack takes back s, whose lease has ended (destroy says how), and
// lends it to the next waiter, keeps it idle or destroys it. unused is
// [leaseEnded] for a lease that ended, and otherwise the wait of a waiter
// that was handed s after giving up: its acquisition is taken back.
func (p *Pool[T]) giveBack(s *poolSlot[T], destroy bool, unused time.Duration) {
	// The clock is read only when something needs it: a timed hold, the
	// idle time, a lifetime, or a timed wait (read under the lock below,
	// since only then is it known). s.timed and s.expires were
	// written before the lease reached its holder.
	now, clocked := time.Duration(0), false
	if s.timed || s.expires != 0 || p.cfg.MaxIdleTime > 0 || p.cfg.HealthCheck != nil || unused >= 0 {
		now, clocked = p.now(), true
	}
	p.mu.Lock()
	if s.state != slotLeased { // destroyed under its holder by Close
		p.mu.Unlock()
		return
	}
	if clocked {
		p.clockSeen = max(p.clockSeen, now)
	} else {
		now = p.clockSeen
	}
	p.leased--
	if unused < 0 {
		p.countHoldLocked(s, now)
	} else { // it never reached its caller: take back what handLocked counted
		p.acquires--
		p.waits--
		p.waitTime -= unused
		p.flushWaitsLocked()
		p.stats.WaitDurations.Counts[histBucket(unused)]--
		p.waitSum -= unused
	}
	var late *leaseReport
	if p.track {
		if s.reported {
			late = &leaseReport{held: now - s.acquired, trace: s.trace}
		}
		s.trace, s.reported = stack.Trace{}, false
	}
	var doomed []*poolSlot[T]
	if len(p.dropped) > 0 {
		doomed = p.takeDroppedLocked()
	}
	var reason destroyReason
	var w *poolWaiter[T]
	var waited time.Duration
	kept := false
	switch {
	case destroy:
		reason = destroyExplicit
	case p.closed:
		reason = destroyLate
	case s.expires != 0 && now >= s.expires:
		reason = destroyLifetime
	case p.waiters.n > 0:
		e := p.waiters.popFront()
		w, kept = e.w, true
		if e.timed && !clocked {
			now = p.nowLocked()
		}
		waited = p.handLocked(s, e, now)
	default:
		kept, reason = p.idleLocked(s, now), destroyIdle // destroyed if MaxIdle are idle
	}
	if !kept {
		p.retireLocked(s, reason)
		p.mu.Unlock()
		p.afterGiveBack(late, append(doomed, s))
		return
	}
	p.mu.Unlock()
	if w != nil {
		// Woken after unlocking, so that it does not wake only to wait
		// for the lock.
		w.serve(s, waited)
	}
	if late != nil || doomed != nil {
		p.afterGiveBack(late, doomed)
	}
}

// countHoldLocked records the hold of the lease of s, ended at now. A
// lease that was not timed is recorded as the latest one that was (see
// Stats.HoldDurations). Caller must hold p.mu.
func (p *Pool[T]) countHoldLocked(s *poolSlot[T], now time.Duration) {
	if s.timed {
		p.stats.HoldDurations.addAgain(p.lastHold, &p.heldAgain)
		p.lastHold = now - s.acquired
		p.stats.HoldDurations.Counts[histBucket(p.lastHold)]++
	} else {
		p.heldAgain++
	}
	p.holdSum += p.lastHold
}

// Hold and wait times are sampled: a pool times its first sampleWarmup
// leases, and its first sampleWarmup waits, then one in sampleEvery, at
// random; every lease when LeakThreshold is set. A clock read costs as
// much as the rest of an Acquire and Release together.
const (
	sampleWarmup = 64
	sampleEvery  = 16
)

// sampleLocked reports whether the next lease, or wait, is to be timed;
// warmup is the count of those still to be timed in full. Caller must
// hold p.mu.
func (p *Pool[T]) sampleLocked(warmup *int) bool {
	if p.track {
		return true
	}
	if *warmup > 0 {
		*warmup--
		return true
	}
	x := p.sample
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	p.sample = x
	return x%sampleEvery == 0
}

// nowLocked reads the clock, and keeps the reading as the start of the
// leases that are not timed. Caller must hold p.mu.
func (p *Pool[T]) nowLocked() time.Duration {
	now := p.now()
	p.clockSeen = max(p.clockSeen, now)
	return now
}

// leaseEnded is giveBack's unused for a lease that ended.
const leaseEnded time.Duration = -1

func (p *Pool[T]) afterGiveBack(late *leaseReport, doomed []*poolSlot[T]) {
	if late != nil {
		p.leakLogger().Warn("pool: lease given back after being held longer than LeakThreshold",
			"held", late.held, "acquired_at", late.trace.String())
	}
	p.destroyAll(doomed)
}

// fillLocked makes sure that what the waiters and MinIdle need is coming:
// it starts constructions within the limits, and while the pool backs off
// it fails the waiters that nothing in flight would serve, newest first.
// ctx carries the values for Open. Caller must hold p.mu.
func (p *Pool[T]) fillLocked(ctx context.Context, now time.Duration) {
	if p.closed {
		return
	}
	need := p.needLocked()
	if need <= p.constructing {
		return
	}
	if now < p.backoffUntil {
		p.failOutageLocked(p.openErr)
		if p.needLocked() > p.constructing {
			p.wantJanitorLocked(p.backoffUntil)
		}
		return
	}
	for p.constructing < need && p.total+p.constructing < p.cfg.MaxSize && p.constructing < p.maxConstructing {
		p.constructing++
		go p.construct(ctx)
	}
}

// needLocked returns the number of resources the pool wants on their way:
// one per waiter, plus what MinIdle lacks. Caller must hold p.mu.
func (p *Pool[T]) needLocked() int {
	return p.waiters.n + max(0, p.cfg.MinIdle-len(p.idle))
}

// failOutageLocked fails every waiter with err during an outage: while the
// pool backs off after Open failed, with no lease out and no construction
// running, nothing can serve a waiter before the backoff ends. Otherwise
// the waiters keep waiting for the leases and constructions in flight.
// Caller must hold p.mu.
func (p *Pool[T]) failOutageLocked(err error) {
	if p.leased > 0 || p.constructing > 0 {
		return
	}
	for w := p.waiters.popBack(); w != nil; w = p.waiters.popBack() {
		p.stats.FailFast++
		w.ch <- waitResult[T]{err: err}
	}
}

// growthLocked returns how many waiters the pool may still serve by
// constructing: the places left within MaxSize, or only the constructions
// running while it backs off. Caller must hold p.mu.
func (p *Pool[T]) growthLocked(now time.Duration) int {
	if now < p.backoffUntil {
		return p.constructing
	}
	return p.cfg.MaxSize - p.total
}

// retireLocked marks s, taken out of the idle list or from its holder, for
// destruction. Caller must hold p.mu, then call p.destroy(s) without it.
func (p *Pool[T]) retireLocked(s *poolSlot[T], reason destroyReason) {
	s.state = slotDestroying
	s.reason = reason
}

// destroy closes the resource of s, which the caller retired, and frees
// its place. It returns the error from Close, wrapped.
func (p *Pool[T]) destroy(s *poolSlot[T]) (err error) {
	defer func() {
		// Deferred so that a panicking Close still frees the place, and
		// Close does not wait for it forever.
		p.mu.Lock()
		p.total--
		last := p.all[len(p.all)-1]
		p.all[s.index], last.index = last, s.index
		p.all[len(p.all)-1] = nil
		p.all = p.all[:len(p.all)-1]
		p.stats.countDestroy(s.reason)
		var log func()
		if err != nil {
			p.stats.CloseErrors++
			if p.cfg.Logger == nil && s.reason != destroyClose {
				log = p.kept.Keep("pool", err)
			}
		}
		p.fillLocked(context.Background(), p.now())
		p.checkDrainedLocked()
		p.mu.Unlock()
		if log != nil {
			log()
		}
	}()
	if err = p.closeValue(s.value); err != nil {
		err = fmt.Errorf("pool: closing a resource: %w", err)
		if p.cfg.Logger != nil {
			p.cfg.Logger.Error("pool: closing a resource failed", "error", err)
		}
	}
	return err
}

// destroyAll destroys doomed, which the caller retired, and returns the
// errors. When a Close panics or calls Goexit, the rest are destroyed
// before that goes on, their own panics reported (see reportLocked).
func (p *Pool[T]) destroyAll(doomed []*poolSlot[T]) (errs []error) {
	i := 0
	defer func() {
		if i < len(doomed) {
			for _, s := range doomed[i+1:] {
				p.destroyReported(s)
			}
		}
	}()
	for ; i < len(doomed); i++ {
		if err := p.destroy(doomed[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// destroyReported destroys s where a panic of Close has nowhere to go: a
// pool goroutine, or a caller already unwinding. A panic or Goexit of
// Close is reported, and so is an error Close(ctx) would not see.
func (p *Pool[T]) destroyReported(s *poolSlot[T]) {
	var err error
	pe := closing.GuardGoexit("pool: Config.Close", func() { err = p.destroy(s) })
	if pe == nil && (err == nil || s.reason != destroyClose) {
		return // destroy kept or logged err
	}
	var log func()
	p.mu.Lock()
	if pe != nil {
		log = p.reportLocked(pe)
	} else if p.cfg.Logger == nil {
		log = p.kept.Keep("pool", err)
	}
	p.mu.Unlock()
	if log != nil {
		log()
	}
}

// reportLocked reports the panic of a callback that no caller waits for:
// to the Logger, through the func it returns for the caller to call once
// it has let go of p.mu, or else kept for Close to return. Caller must
// hold p.mu.
func (p *Pool[T]) reportLocked(pe *PanicError) (log func()) {
	p.stats.Panics++
	if logger := p.cfg.Logger; logger != nil {
		return func() { logger.Error("pool: callback panicked on a pool goroutine", "error", pe) }
	}
	return p.kept.Keep("pool", pe)
}

func (p *Pool[T]) closeValue(v T) error { return p.cfg.Close(v) }

// healthCheck runs HealthCheck on s, which is lent to the caller. If the
// check panics or calls Goexit, s is destroyed before that goes on.
func (p *Pool[T]) healthCheck(ctx context.Context, s *poolSlot[T]) error {
	normal := false
	defer func() {
		if normal {
			return
		}
		p.mu.Lock()
		if s.state != slotLeased { // Close destroyed it meanwhile
			p.mu.Unlock()
			return
		}
		p.leased--
		p.retireLocked(s, destroyHealthCheck)
		p.mu.Unlock()
		p.destroyReported(s)
	}()
	err := p.cfg.HealthCheck(ctx, s.value)
	normal = true
	return err
}

// addLocked counts s, just made, as open. Caller must hold p.mu.
func (p *Pool[T]) addLocked(s *poolSlot[T], now time.Duration) {
	if d := p.cfg.MaxLifetime; d > 0 {
		// Shorter by up to the jitter, so that resources made together do
		// not all expire together.
		j := p.cfg.LifetimeJitter
		if j == 0 {
			j = d / 10
		}
		if j > 0 {
			d -= rand.N(j)
		}
		s.expires = now + d
	}
	s.index = len(p.all)
	p.all = append(p.all, s)
	p.total++
}

// now returns the time elapsed since p.epoch. The pool keeps its times in
// that form: time.Since reads only the monotonic clock, where time.Now
// reads the wall clock too, which costs as much again on the Acquire and
// Release paths (puddle's nanotime does the same for the same reason).
// Inside a testing/synctest bubble both follow the bubble's fake clock.
func (p *Pool[T]) now() time.Duration { return time.Since(p.epoch) }

// Stats returns a snapshot of the pool's state and counters.
func (p *Pool[T]) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.statsLocked()
}

func (p *Pool[T]) statsLocked() Stats {
	s := p.stats
	s.Acquires, s.Waits, s.WaitTime = p.acquires, p.waits, p.waitTime
	s.WaitDurations.Counts[0] += p.noWait
	s.WaitDurations.Sum, s.HoldDurations.Sum = p.waitSum, p.holdSum
	s.WaitDurations.Counts[histBucket(p.lastWait)] += p.waitedAgain
	s.HoldDurations.Counts[histBucket(p.lastHold)] += p.heldAgain
	s.MaxSize = p.cfg.MaxSize
	s.Total = p.total
	s.Idle = len(p.idle)
	s.InUse = p.leased
	s.Constructing = p.constructing
	s.Waiters = p.waiters.n
	return s
}

// acquireError counts an Acquire that gave up after waited because ctx is
// done, and returns its error.
func (p *Pool[T]) acquireError(ctx context.Context, waited time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acquireErrorLocked(ctx, waited)
}

func (p *Pool[T]) acquireErrorLocked(ctx context.Context, waited time.Duration) error {
	p.stats.Canceled++
	e := &AcquireError{Waited: waited, Stats: p.statsLocked()}
	e.errs[0], e.cause = ctx.Err(), context.Cause(ctx)
	e.n = 1
	if e.cause != nil && e.cause != e.errs[0] {
		e.errs[1], e.n = e.cause, 2
	}
	return e
}

// leakLogger returns where lease reports go.
func (p *Pool[T]) leakLogger() *slog.Logger {
	if p.cfg.Logger != nil {
		return p.cfg.Logger
	}
	return slog.Default()
}

// AcquireError is returned by [Pool.Acquire] when its context is done
// before a resource is lent. errors.Is sees ctx.Err() through it
// (context.DeadlineExceeded for a timeout) and the context's cause, if it
// has one of its own. It is always returned as a pointer.
type AcquireError struct {
	// Waited is how long Acquire waited before giving up.
	Waited time.Duration
	// Stats is a snapshot of the pool when Acquire gave up: what the
	// resources were doing and how many callers were waiting.
	Stats Stats

	// errs holds ctx.Err() and, when it differs, the context's cause: n
	// of them. Unwrap returns a slice of it, so that errors.Is and
	// errors.As allocate nothing.
	errs  [2]error
	n     int
	cause error // context.Cause(ctx)
}

// Error describes the pool's state when Acquire gave up.
func (e *AcquireError) Error() string {
	s := &e.Stats
	return fmt.Sprintf("pool: Acquire gave up after %v (%d/%d in use, %d idle, %d constructing, %d waiting): %v",
		e.Waited, s.InUse, s.MaxSize, s.Idle, s.Constructing, s.Waiters, e.cause)
}

// Unwrap returns ctx.Err() and, when it differs, the context's cause.
func (e *AcquireError) Unwrap() []error {
	return e.errs[:e.n:e.n]
}
