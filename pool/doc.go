// Package pool lends things that are costly to make and takes them back:
// connections and other expensive resources from a bounded [Pool], values of
// your own types from an [ObjectPool]. A [Lease] implements [io.Closer], and
// Close gives it back, so a borrowed resource is returned like any other:
// with defer, or with a scope.Scope's DeferClose beside the files and
// connections of the same function.
//
// Two packages beside it lend other things:
//
//   - [github.com/reclaim-go/reclaim/pool/handles] shares reference-counted
//     handles, such as open files, and closes each once it has been idle.
//   - [github.com/reclaim-go/reclaim/pool/buffer] lends size-classed byte
//     buffers that never hoard memory, without importing retry or scope.
//
// A [Pool] is safe for concurrent use, and so is an [ObjectPool]; a [Lease]
// is for one holder at a time.
//
// # Object pools
//
// An [ObjectPool] is a sync.Pool for values of one type, with hooks: New
// makes a value when the pool has none, and Reset, called by Put, clears a
// value for its next user and says whether it is worth keeping:
//
//	var encoders = pool.ObjectPool[encoder]{
//		New: func() *encoder { return &encoder{buf: make([]byte, 0, 512)} },
//		Reset: func(e *encoder) bool {
//			if cap(e.buf) > 64<<10 {
//				return false // one huge message must not pin its memory
//			}
//			e.buf = e.buf[:0]
//			return true
//		},
//	}
//
//	e := encoders.Get()
//	defer encoders.Put(e)
//
// It stores *T, so Get and Put allocate nothing in steady state. Like
// sync.Pool it may drop values at any time; for values that are costly to
// make or must be bounded in number, use [Pool].
//
// # Pool
//
// A [Pool] lends expensive resources (TCP connections, protocol clients,
// handles with no pool of their own) as a [Lease], and bounds how many
// exist:
//
//	conns, err := pool.New(pool.Config[net.Conn]{
//		Open:        func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) },
//		MaxSize:     16,
//		MinIdle:     2,               // kept warm in the background
//		MaxIdleTime: time.Minute,     // least recently used first, down to MinIdle
//		MaxLifetime: 30 * time.Minute, // each in (90%, 100%]: no fleet-wide expiry
//	})
//	...
//	l, err := conns.Acquire(ctx)
//	if err != nil {
//		return err
//	}
//	s.DeferClose(l)                                        // Release on success
//	s.OnFailure(func() error { l.Destroy(); return nil }) // Destroy on failure
//	_, err = l.Value().Write(req)
//
// The rules, in short:
//
//   - Acquire reuses idle resources most recently used first, and serves
//     waiters first come, first served. Each waiter waits on a channel of
//     its own, recycled through a sync.Pool; a release or a construction
//     hands the resource straight to the oldest waiter. There is no
//     goroutine per waiter, and a waiter whose context is done leaves the
//     queue, or hands back a resource given to it meanwhile.
//   - Open runs in a goroutine of its own, at most MaxConstructing at once,
//     with the values of the Acquire that asked for it but not its
//     cancellation: a construction outlives a caller that gave up and lands
//     in the pool for the next one, bounded by OpenTimeout and Close.
//   - A Lease is a value holding a pointer to its resource's slot and a
//     generation number. Release, Destroy and Close advance the slot's
//     generation by compare-and-swap, so exactly one of them wins, and
//     every later use of any copy of the lease sees a stale number: Value,
//     Release and Destroy panic, Close returns [ErrLeaseDone] (nil after
//     Destroy, so that the scope idiom above works). Slots live as long as
//     their resource, so Acquire and Release allocate nothing.
//   - One failed Open fails one caller at most, as in puddle and
//     database/sql: the newest waiter, unless the leases out and the Opens
//     running are enough for every waiter. Then the pool backs off (the
//     delays come from [github.com/reclaim-go/reclaim/retry.Backoff],
//     shaped by Config.OpenBackoff) and no Open starts meanwhile. Waiters
//     fail fast with the last Open error only during an outage: backing
//     off with no lease out and no Open running, when nothing could serve
//     them before the backoff ends. Otherwise they wait, until their own
//     context ends, for the leases and constructions in flight.
//   - Acquire errors: [*AcquireError] when ctx is done (errors.Is sees
//     ctx.Err() and its cause; it carries a [Stats] snapshot), [ErrBusy]
//     beyond MaxWaiters, [ErrClosed] after Close, and the Open error as
//     above.
//   - [Pool.Close] stops Acquire, fails waiters with ErrClosed, destroys
//     the idle resources, waits for the leases until its context is done,
//     then destroys those under their holders and returns a [*LeaseError]
//     for each, naming where it was acquired when LeakThreshold is set.
//
// # Panics and misuse
//
// Every callback of [Config] may panic, panic(nil) or call runtime.Goexit,
// and the pool stays consistent: nothing is counted as lent or opening
// that is not, Close drains, and the pool lends again. Where the panic
// goes depends on the goroutine the callback ran on:
//
//   - On the caller's goroutine (HealthCheck in Acquire, Close in
//     Release, Destroy, Acquire or Pool.Close): the pool restores its state
//     in deferred calls (the resource concerned is destroyed) and the
//     panic or Goexit goes on up the caller's stack. Nothing is recovered.
//   - On a goroutine the pool started (Open, which always runs on one; a
//     Close made by the janitor or after Pool.Close): it never crashes the
//     process nor ends a pool goroutine silently. An Open panic goes to the
//     waiter it was meant for, as a [*PanicError] (the value and the stack)
//     re-panicked in that Acquire's goroutine once the pool is consistent;
//     a Goexit there is returned as that *PanicError. With no caller
//     waiting, it is reported: to the Logger, or else kept for
//     [Pool.Close] to return, and counted in [Stats].Panics.
//
// Giving a lease back twice follows the rule of every lender in this
// module (handles.Ref, buffer.Buffer): a second Close, through any copy,
// returns the package's sentinel, here [ErrLeaseDone], and changes
// nothing; every other use after the give-back (Value, and Release or
// Destroy, which return no error) panics with a message naming the
// mistake. The one exception is Close after Destroy, which returns nil so
// that the scope idiom above works.
//
// One background goroutine at most, the janitor, runs while something is
// due at a known time: idle or lifetime expiry, restoring MinIdle after a
// backoff, lease deadlines. It sleeps on one timer until the earliest, and
// scans the pool's resources (at most MaxSize) when it wakes, which keeps
// Acquire and Release free of heap upkeep. A pool without such deadlines
// never starts it, and Close waits for it, so pools pass goleak and work
// inside testing/synctest bubbles (create the pool in the bubble).
//
// Leak detection is opt-in, because it costs a stack capture and a few
// allocations per Acquire: with LeakThreshold set, a lease held longer is
// logged with the stack of its Acquire, once, and again when it comes
// back; and each lease gets a small tracker object, the only thing its
// copies share, watched with runtime.AddCleanup. A lease dropped without
// Release makes its tracker unreachable: the cleanup logs it and marks its
// resource for destruction. Pooling trackers would defeat the detection,
// and a tracker per lease would defeat the zero-allocation Acquire, hence
// the opt-in. The cleanup runs outside any synctest bubble, where touching
// the pool's channels is fatal, so it only records the drop; the next
// Acquire or release, or the janitor (which runs while tracked leases are
// out), destroys the resource and serves the waiters.
//
// [Pool.Stats] returns counts (total, idle, in use, waiting, being
// opened), counters (acquires, waits, wait time, timeouts, destructions by
// reason) and two [Histogram] distributions, of wait and hold times, over
// fixed buckets whose bounds double from 1µs, so that snapshots subtract.
//
// In the PoolUncontended and PoolContended benchmarks (internal/bench),
// Acquire and Release allocate nothing and cost less than
// jackc/puddle's and database/sql's, and about twice a buffered channel of
// connections, which keeps no count and honours no context. On the
// machines measured, the biggest share of the difference is reading the
// monotonic clock twice, for the hold and wait times.
package pool
