package handles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/internal/closing"
	"github.com/reclaim-go/reclaim/internal/stack"
	"github.com/reclaim-go/reclaim/internal/timerheap"
)

// ErrClosed is returned by [Cache.Get] once [Cache.Close] has been called.
var ErrClosed = errors.New("handles: closed")

// Config configures a [Cache]. Open is required, and Close unless V has a
// Close method; every other field has a usable zero value.
//
// A cache given only Open shares one handle per key, closes it with V's
// Close method, keeps at most 64 idle handles (the least recently released
// close first) and no idle handle expires; it does not record holders'
// stacks, and Close errors are kept for [Cache.Close].
type Config[K comparable, V any] struct {
	// Open opens the handle for key. It runs in the goroutine of the Get that
	// found no handle, with that Get's context; concurrent Gets of the same
	// key wait for it instead of opening their own. Required.
	Open func(ctx context.Context, key K) (V, error)

	// Close closes a handle. nil means V's own Close method, which V must
	// have in one of the forms Close() error, Close() or
	// Close(context.Context) error (called with a background context):
	// [New] refuses a Config that would leave its handles unclosed.
	Close func(V) error

	// IdleTimeout is how long a handle stays open after its last reference
	// is closed; a Get in the meantime reuses it and the delay starts over
	// at the next release. Zero means idle handles are closed only to
	// respect MaxOpen and by [Cache.Close]. Negative is invalid.
	IdleTimeout time.Duration

	// MaxOpen bounds the number of open handles. When a Get must open a
	// handle while MaxOpen are open, it first closes the least recently
	// released idle handle (of handles released at the same instant, any
	// one). When every open handle is held, Get opens one anyway rather
	// than wait (a holder waiting for another key must not deadlock), and
	// the excess is closed as soon as it is released: a handle released
	// while more than MaxOpen are open is closed at once. So the open count
	// never exceeds MaxOpen or the number of handles held and being opened,
	// whichever is larger. Zero means no bound. Negative is invalid.
	MaxOpen int

	// MaxIdle bounds the idle handles: when a release would leave more
	// than MaxIdle idle, the least recently released one is closed, so
	// that a cache whose key space is large does not keep a handle per key
	// for ever. (The count is that of the handles queued as idle, which
	// may include some taken again since: the bound may strike a little
	// early, never late.) Zero means MaxOpen when MaxOpen is set, and otherwise 64
	// (currently; this may change). Negative is invalid.
	MaxIdle int

	// OnCloseError, when set, is called with every error returned by Close,
	// in the goroutine that closed the handle: the janitor, a Get making
	// room, the holder whose [Ref.Close] released it last, or
	// [Cache.Close]. It runs with no lock held, but must not call
	// Cache.Close, which may be waiting for it.
	OnCloseError func(key K, err error)

	// Logger, when set, logs every error returned by Close at level Error.
	//
	// Close errors are never dropped: with neither OnCloseError nor Logger
	// set, those of background closes are kept (up to 16, and counted
	// beyond) and returned by [Cache.Close]. Every one is counted in
	// [Stats].CloseErrors.
	Logger *slog.Logger

	// TrackHolders records the call stack of every Get, so that
	// [Cache.Close] can say where each late holder took its reference,
	// and tracks every reference in the process's registry of live
	// resources: the pprof profile reclaim.refs lists the references held,
	// with where they were taken, and one dropped without Close is found
	// when it is collected (scopetest.VerifyTestMain reports it; its
	// handle stays open until Cache.Close). The process-wide level
	// (RECLAIM_LEAKS=sampled or full, or VerifyTestMain) tracks references
	// in the registry without it. It costs a stack capture and a few
	// allocations per Get; off by default.
	TrackHolders bool
}

// Cache is a keyed cache of shared, reference-counted handles that are
// closed after an idle delay: files a service reads from, connections to
// the hosts it talks to. [Cache.Get] opens the handle for a key or shares
// the open one; the handle stays open while any reference to it is held,
// and closes IdleTimeout after the last reference is released, or earlier
// to respect MaxOpen. A handle in use is never closed, except by
// [Cache.Close] once its context is done.
//
// One janitor goroutine closes expired handles. It runs only while some
// handle is idle (it exits at its next wake-up once none is), so a Cache
// with nothing idle costs no goroutine and is clean under goleak and inside
// testing/synctest bubbles.
//
// A Cache is created by [New] and is safe for concurrent use. It
// must not be copied.
type Cache[K comparable, V any] struct {
	cfg     Config[K, V] // read-only after New
	closeFn func(V) error
	wake    chan struct{} // buffered: asks the janitor to re-check now
	epoch   time.Time     // deadlines are kept as offsets from it

	// Read without mu by Ref.Close, which releases without locking when
	// the handle stays idle; written under mu.
	closed atomic.Bool
	open   atomic.Int64 // handles being opened, open or being closed

	mu      sync.Mutex // protects the following fields
	entries map[K]*handleEntry[K, V]
	// queue holds every idle handle by deadline (last release plus
	// IdleTimeout): the earliest deadline is when the janitor wakes, and the
	// order is MaxOpen's eviction order, least recently released first. It
	// is lazy, so that taking and releasing an idle handle costs no heap
	// operation and no lock: a Get leaves the handle queued, and a release
	// of a queued handle only moves its deadline. A queued entry may thus
	// be held, or due later than queued; popIdleLocked sorts that out.
	queue  timerheap.Heap[*handleEntry[K, V]]
	pushes uint64 // orders equal deadlines in the queue
	stats  Stats
	// kept holds close errors that no handler has seen, for Close.
	kept        closing.Errors
	janitor     bool
	janitorDone chan struct{} // closed when the running janitor exits
	expired     []*handleEntry[K, V]
	closeDone   chan struct{} // closed when the first Close returns
	// closeAgain is set when a Close was cut short by a panicking or
	// exiting Close callback: the next Close does the work again.
	closeAgain bool
	drained    chan struct{} // closed when open drops to 0 during Close
}

// entry states
const (
	entryOpening uint8 = iota // Open is running; done is closed when it returns
	entryOpen                 // value is valid and the entry is in the map
	entryGone                 // out of the map: closing, closed or failed to open
)

// A handleEntry is released without h.mu (see Ref.Close), so the fields a
// release touches are atomic. The rest of the cache decides about an entry
// only under h.mu, where refs cannot rise (Get holds h.mu) and, at 0,
// cannot fall either: under h.mu an idle entry and its deadline are stable.
//
// The fields a hit and its release touch come first, within one cache
// line's span for pointer-shaped values: in a cache of a million handles,
// an entry is cold when a Get finds it, and each further line touched costs
// a miss of its own.
type handleEntry[K comparable, V any] struct {
	// refs counts references; the opener counts as one while opening.
	// Raised under h.mu, lowered by Ref.Close without it.
	refs atomic.Int64
	// deadline is the last release plus IdleTimeout, as an offset from
	// Cache.epoch; a release stores it before lowering refs.
	deadline atomic.Int64
	value    V
	// queued mirrors node.Scheduled() for Ref.Close. It is cleared before
	// a popper looks at refs, and read by a release after it lowers refs,
	// so one of the two always sees the other (see popIdleLocked).
	queued atomic.Bool
	state  uint8             // guarded by h.mu
	slots  holderSlots[K, V] // its first holder's hot fields come first
	key    K
	done   chan struct{} // closed when Open returns
	err    error         // the Open error, set before done is closed
	retry  bool          // err came from the opener's own cancelled context

	node timerheap.Node[*handleEntry[K, V]] // in Cache.queue; guarded by h.mu
}

// closeReason says why a handle is closed, for the counters.
type closeReason int

const (
	closedIdle closeReason = iota
	closedMaxOpen
	closedMaxIdle
	closedShutdown // by Cache.Close, which returns the errors
	// closedLate is a close the closed cache makes outside Cache.Close: a
	// last release, an Open that finished after Close began. Its error
	// is kept for Cache.Close, or logged once Close has returned.
	closedLate
)

// New returns an empty cache configured by cfg. It returns an error
// naming the field when cfg is invalid.
func New[K comparable, V any](cfg Config[K, V]) (*Cache[K, V], error) {
	switch {
	case cfg.Open == nil:
		return nil, errors.New("handles: Config.Open is required")
	case cfg.IdleTimeout < 0:
		return nil, fmt.Errorf("handles: Config.IdleTimeout must be >= 0, got %v", cfg.IdleTimeout)
	case cfg.MaxOpen < 0:
		return nil, fmt.Errorf("handles: Config.MaxOpen must be >= 0, got %d", cfg.MaxOpen)
	case cfg.MaxIdle < 0:
		return nil, fmt.Errorf("handles: Config.MaxIdle must be >= 0, got %d", cfg.MaxIdle)
	}
	if cfg.MaxIdle == 0 {
		cfg.MaxIdle = cfg.MaxOpen
		if cfg.MaxIdle == 0 {
			cfg.MaxIdle = defaultMaxIdle
		}
	}
	h := &Cache[K, V]{
		cfg:     cfg,
		closeFn: cfg.Close,
		wake:    make(chan struct{}, 1),
		epoch:   time.Now(),
		entries: make(map[K]*handleEntry[K, V]),
	}
	if h.closeFn == nil {
		var ok bool
		if h.closeFn, ok = closing.Closer[V](); !ok {
			return nil, fmt.Errorf("handles: Config.Close is required: %v has no Close method (Close() error, Close() or Close(context.Context) error)", reflect.TypeFor[V]())
		}
	}
	return h, nil
}

// Get returns a reference to the handle for key, opening it if no handle for
// key is open. Concurrent Gets of a key that is not open call Open once: the
// others wait for it, or for their own ctx, whichever comes first. An Open
// error is returned to the Get that called Open and to those waiting for it,
// and is not cached: the next Get calls Open again. When the Get that called
// Open was cancelled, the Gets waiting for it try again instead of returning
// its context's error.
//
// The handle stays open at least until the reference is closed; every
// reference must be closed exactly once. Get returns [ErrClosed] once
// [Cache.Close] has been called, and an error wrapping ctx.Err() when ctx
// is done while waiting for another Get's Open.
//
// Get on an open handle allocates nothing unless references are tracked
// (TrackHolders, RECLAIM_LEAKS).
func (h *Cache[K, V]) Get(ctx context.Context, key K) (Ref[K, V], error) {
	var trace stack.Trace
	if h.cfg.TrackHolders {
		trace = stack.Capture(1)
	}
	h.mu.Lock()
	for {
		if h.closed.Load() {
			h.mu.Unlock()
			return Ref[K, V]{}, ErrClosed
		}
		e := h.entries[key]
		if e == nil {
			break
		}
		if e.state == entryOpen {
			h.stats.Hits++
			e.refs.Add(1)
			r := h.refLocked(e, trace)
			h.mu.Unlock()
			return r, nil
		}
		// Another Get is opening the handle: wait for it, then look again,
		// since the handle may have been opened, failed, or been closed.
		h.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return Ref[K, V]{}, fmt.Errorf("handles: waiting for handle %v to open: %w", key, ctx.Err())
		}
		if e.err != nil && !e.retry {
			return Ref[K, V]{}, e.err
		}
		h.mu.Lock()
	}
	return h.openLocked(ctx, key, trace)
}

// openLocked opens the handle for key, which is not in the cache, and
// returns the first reference to it. The caller holds h.mu; openLocked
// releases it.
func (h *Cache[K, V]) openLocked(ctx context.Context, key K, trace stack.Trace) (Ref[K, V], error) {
	h.stats.Misses++
	e := &handleEntry[K, V]{key: key, state: entryOpening, done: make(chan struct{})}
	e.refs.Store(1)
	e.node.Value = e
	e.slots.first.h, e.slots.first.e = h, e
	h.entries[key] = e
	var victim *handleEntry[K, V]
	full := h.cfg.MaxOpen > 0 && h.open.Load() >= int64(h.cfg.MaxOpen)
	// Count the new handle before looking for a victim: a release that
	// misses the count leaves its handle where popIdleLocked finds it.
	h.open.Add(1)
	if full {
		if victim = h.popIdleLocked(time.Time{}); victim != nil {
			h.removeLocked(victim)
		}
	}
	h.mu.Unlock()

	var v V
	err := errNoReturn
	defer func() {
		// The victim's Close or Open panicked or called Goexit: e must
		// not stay opening, and the waiters try again.
		if err == errNoReturn {
			h.mu.Lock()
			h.failOpenLocked(e, err, true)
			h.decOpenLocked()
			h.mu.Unlock()
		}
	}()
	// Close the evicted handle before opening, so that the number of open
	// resources never exceeds the bound, even for a moment.
	if victim != nil {
		h.closeEntry(victim, closedMaxOpen)
	}
	v, err = h.cfg.Open(ctx, key)

	h.mu.Lock()
	switch {
	case err != nil:
		h.stats.OpenErrors++
		h.failOpenLocked(e, err, ctx.Err() != nil)
		h.decOpenLocked()
		h.mu.Unlock()
		return Ref[K, V]{}, err
	case h.closed.Load():
		// Close was called while Open ran: do not hand the handle out.
		e.value = v
		h.failOpenLocked(e, ErrClosed, false)
		h.mu.Unlock()
		h.closeEntry(e, closedLate)
		return Ref[K, V]{}, ErrClosed
	}
	e.value = v
	e.state = entryOpen
	close(e.done)
	r := h.refLocked(e, trace)
	h.mu.Unlock()
	return r, nil
}

// defaultMaxIdle is Config.MaxIdle's zero value without MaxOpen.
const defaultMaxIdle = 64

// errNoReturn marks an Open, or the Close before it, that did not return.
var errNoReturn = errors.New("handles: Config.Open or Close did not return")

// failOpenLocked removes e, which will not be handed out, and wakes the Gets
// waiting for it with err; they try again when retry is set. Caller must
// hold h.mu.
func (h *Cache[K, V]) failOpenLocked(e *handleEntry[K, V], err error, retry bool) {
	h.removeLocked(e)
	e.err, e.retry = err, retry
	e.refs.Store(0)
	close(e.done)
}

// removeLocked takes e out of the cache, so that Get no longer finds it.
// Caller must hold h.mu.
func (h *Cache[K, V]) removeLocked(e *handleEntry[K, V]) {
	if h.entries[e.key] == e {
		delete(h.entries, e.key)
	}
	h.queue.Remove(&e.node)
	e.queued.Store(false)
	e.state = entryGone
}

// pushLocked queues e, which is idle, at its deadline. Caller must hold
// h.mu.
func (h *Cache[K, V]) pushLocked(e *handleEntry[K, V]) {
	h.pushes++
	h.queue.Push(&e.node, h.epoch.Add(time.Duration(e.deadline.Load())), h.pushes)
	e.queued.Store(true)
	// The janitor runs while the queue is not empty, so only a push may
	// need to start it. Close empties the queue itself.
	if h.cfg.IdleTimeout > 0 && !h.janitor && !h.closed.Load() {
		h.startJanitorLocked()
	}
}

// popIdleLocked takes the idle handle with the earliest deadline out of the
// queue, if that deadline is not after due; a zero due takes it whatever its
// deadline. It returns nil when no idle handle qualifies. On the way it
// drops the held handles it meets and requeues those released since they
// were queued, so it costs O(log n) per stale entry, each paid once. Caller
// must hold h.mu.
func (h *Cache[K, V]) popIdleLocked(due time.Time) *handleEntry[K, V] {
	for {
		n := h.queue.Peek()
		if n == nil {
			return nil
		}
		e := n.Value
		if e.refs.Load() > 0 {
			// Held: its last release queues it again. Clear queued before
			// looking at refs once more: either that release sees queued
			// false and queues e itself, or this look sees it released.
			h.queue.Remove(n)
			e.queued.Store(false)
			if e.refs.Load() > 0 {
				continue
			}
			h.pushLocked(e)
			continue
		}
		deadline := h.epoch.Add(time.Duration(e.deadline.Load()))
		switch {
		case deadline.After(n.When()): // released again since queued
			h.queue.Remove(n)
			h.pushLocked(e)
		case !due.IsZero() && deadline.After(due):
			return nil
		default:
			h.queue.Remove(n)
			e.queued.Store(false)
			return e
		}
	}
}

// decOpenLocked accounts for a handle that is closed or was never opened.
// Caller must hold h.mu.
func (h *Cache[K, V]) decOpenLocked() {
	if h.open.Add(-1) == 0 && h.drained != nil {
		close(h.drained)
		h.drained = nil
	}
}

// releaseSlow finishes the release of e's last reference when the release
// could not leave e idle on its own: e is not queued, the cache is over
// MaxOpen, or it is closed.
func (h *Cache[K, V]) releaseSlow(e *handleEntry[K, V]) {
	h.mu.Lock()
	if e.refs.Load() > 0 || e.state != entryOpen {
		// Taken again since, or already closed by Close.
		h.mu.Unlock()
		return
	}
	reason := closedLate
	switch {
	case h.closed.Load():
	case h.cfg.MaxOpen > 0 && h.open.Load() > int64(h.cfg.MaxOpen):
		reason = closedMaxOpen
	default:
		if !e.node.Scheduled() {
			h.pushLocked(e)
		}
		// The queue holds every idle handle (and maybe some held since),
		// so its length bounds their number.
		var victim *handleEntry[K, V]
		if h.queue.Len() > h.cfg.MaxIdle {
			if victim = h.popIdleLocked(time.Time{}); victim != nil {
				h.removeLocked(victim)
			}
		}
		h.mu.Unlock()
		if victim != nil {
			h.closeEntry(victim, closedMaxIdle)
		}
		return
	}
	h.removeLocked(e)
	h.mu.Unlock()
	h.closeEntry(e, reason)
}

// closeEntry closes the handle of e, which the caller took out of the cache,
// and accounts for it. It reports a Close error to the handlers and returns
// it wrapped with the key; if no handler saw it and Cache.Close will not
// return it to its caller, it is kept for Cache.Close.
func (h *Cache[K, V]) closeEntry(e *handleEntry[K, V], reason closeReason) (err error) {
	defer func() {
		// Deferred so that a panicking Close still counts as closed and
		// Cache.Close does not wait for it forever.
		h.mu.Lock()
		switch reason {
		case closedIdle:
			h.stats.IdleEvictions++
		case closedMaxOpen:
			h.stats.MaxOpenEvictions++
		case closedMaxIdle:
			h.stats.MaxIdleEvictions++
		}
		var log func()
		if err != nil {
			h.stats.CloseErrors++
			if reason != closedShutdown && h.cfg.OnCloseError == nil && h.cfg.Logger == nil {
				log = h.kept.Keep("handles", err)
			}
		}
		h.decOpenLocked()
		h.mu.Unlock()
		if log != nil {
			log()
		}
	}()
	cerr := h.closeFn(e.value)
	if cerr == nil {
		return nil
	}
	if h.cfg.OnCloseError != nil {
		h.cfg.OnCloseError(e.key, cerr)
	}
	if h.cfg.Logger != nil {
		h.cfg.Logger.Error("handles: closing handle failed", "key", e.key, "error", cerr)
	}
	return fmt.Errorf("handles: close handle %v: %w", e.key, cerr)
}

// closeAll closes the handles of doomed, which the caller took out of the
// cache, and returns their errors. When a Close panics or calls Goexit,
// the rest are closed before that goes on, their own panics reported.
func (h *Cache[K, V]) closeAll(doomed []*handleEntry[K, V], reason closeReason) (errs []error) {
	i := 0
	defer func() {
		if i < len(doomed) {
			for _, e := range doomed[i+1:] {
				h.closeReported(e, reason)
			}
		}
	}()
	for ; i < len(doomed); i++ {
		if err := h.closeEntry(doomed[i], reason); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// closeReported closes e where a panic of Close has nowhere to go: the
// janitor, or a caller already unwinding. A panic or Goexit is reported,
// and so is an error Cache.Close would not return.
func (h *Cache[K, V]) closeReported(e *handleEntry[K, V], reason closeReason) {
	var err error
	pe := closing.GuardGoexit("handles: Config.Close", func() { err = h.closeEntry(e, reason) })
	if pe == nil && (err == nil || reason != closedShutdown) {
		return // closeEntry kept or reported err
	}
	logger := h.cfg.Logger
	var log func()
	h.mu.Lock()
	switch {
	case pe != nil:
		h.stats.Panics++
		if logger == nil {
			log = h.kept.Keep("handles", pe)
		}
	case h.cfg.OnCloseError == nil && logger == nil:
		log = h.kept.Keep("handles", err)
	}
	h.mu.Unlock()
	if log != nil {
		log()
	}
	if pe != nil && logger != nil { // logged without the lock
		logger.Error("handles: callback panicked on the janitor", "error", pe)
	}
}

// Stats returns a snapshot of the cache's state and counters. It walks the
// open handles, so it costs O(open handles).
func (h *Cache[K, V]) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stats
	s.Open = int(h.open.Load())
	for _, e := range h.entries {
		if e.state != entryOpen {
			continue
		}
		if refs := e.refs.Load(); refs > 0 {
			s.Held++
			s.Refs += int(refs)
		} else {
			s.Idle++
		}
	}
	return s
}
