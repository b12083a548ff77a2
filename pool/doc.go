// Package pool lends things that are costly to make and takes them back:
// byte buffers, values of your own types, connections, shared handles.
// Everything borrowed from it implements [io.Closer], and Close gives it
// back, so a borrowed thing is returned like any other resource: with defer,
// or with a scope.Scope's DeferClose beside the files and connections of the
// same function.
//
//   - [Buffer], from a [BufferPool]: byte buffers that never hoard memory.
//   - [ObjectPool]: a typed sync.Pool with New and Reset hooks, for the
//     "pool my struct" case.
//   - [Pool]: a bounded pool of expensive resources, such as connections;
//     see its type.
//   - [Handles]: shared, reference-counted handles closed when idle; see its
//     type.
//
// # Buffers
//
// [GetBuffer] borrows a buffer from the default pool, with at least the
// capacity asked for; Close gives it back:
//
//	b := pool.GetBuffer(4096)
//	defer b.Close()
//	b.Write(header)
//	if _, err := b.ReadFrom(body); err != nil {
//		return err
//	}
//	_, err := conn.Write(b.Bytes())
//
// A Buffer has the writing half of [bytes.Buffer]: Write, WriteString,
// ReadFrom, WriteTo (which, unlike bytes.Buffer's, leaves the contents in
// place), Bytes, String, Len and Reset. [NewBufferPool] makes a pool of one's
// own with options; the zero BufferPool, like the default one, keeps buffers
// of up to 64 KiB and parks at most 8 MiB.
//
// A pool keeps its buffers in size classes: powers of two from 64 bytes up to
// its [MaxBufferSize], with one sync.Pool per class. Get(n) takes a buffer
// from the smallest class that fits n, so it hands out less than twice n
// rounded up to a power of two: a 1 KiB request receives less than 2 KiB,
// never the 1 MiB buffer someone needed earlier (golang/go#23199). A buffer that grew while in use goes back
// to the class of its new size, and one that outgrew MaxBufferSize is
// dropped. A Get for more than MaxBufferSize is served by a buffer made for
// it and dropped on Close.
//
// Size classes need the caller to say roughly how much it will write, which
// it usually knows; in exchange no request pays for another's size. The
// alternative, calibration as in valyala/bytebufferpool, learns from past
// Puts the one size to hand out and the largest size to keep. Until it has
// learned, it hands any buffer to any request; afterwards the rare large
// request starts from the common size and grows by doubling, and a pool
// whose traffic has two common sizes serves one of them badly. In the
// BufferMixed benchmark of internal/bench (1 KiB requests, one in 100 for
// 1 MiB, with MaxBufferSize set to 1 MiB), reclaim hands each 1 KiB request
// 1 KiB and runs five to ten times faster than bytebufferpool, which once
// calibrated makes every large buffer anew by growing it; a naive sync.Pool
// of *bytes.Buffer is no faster and hands the 1 KiB requests 1 MiB buffers.
// On 1 KiB requests alone (Buffer1K) reclaim costs about 1.5 times the naive
// pool, whose Get and Put it does too: the difference is the two atomic
// operations per Get and Close that keep the counters and the budget exact.
//
// Besides the size cap, a pool bounds the memory it keeps: the capacity of
// the buffers parked in it never exceeds [MaxRetainedBytes]; a Close that
// would go over drops its buffer. sync.Pool also lets go of parked buffers
// on its own, over two garbage collections; the pool learns of each through
// a runtime.AddCleanup and gives the buffer's bytes back to the budget, so a
// burst of large buffers cannot keep the budget full after the memory is
// gone. [BufferPool.Stats] reports hits, misses, drops, the buffers the
// collector took and the bytes parked.
//
// [ZeroOnClose] wipes a buffer's memory when it is closed, and the memory a
// growing buffer leaves behind, for buffers that held secrets.
//
// A Buffer belongs to its holder until Close; afterwards it belongs to the
// pool. Using it after Close, or closing it twice, panics in every mode
// ("pool: Buffer used after Close", "pool: Buffer closed twice") as long as
// the pool has not handed it out again. Once it has, a late call cannot be
// told from the new holder's own: a late Close gives the new holder's buffer
// back under it. For tests, [PoisonOnClose], or the environment variable
// RECLAIM_POISON=1 for every pool including the default one, closes that
// gap: a closed *Buffer is never handed out again, so every late call
// panics; its memory is filled with 0xDE, and a write through a slice kept
// from Bytes is detected when the memory would be handed out again.
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
// # Handles
//
// A [Handles] keeps shared handles open while they are in use and for a
// while after: the files a service reads from, connections to the hosts it
// talks to. [Handles.Get] opens the handle for a key, or shares the one
// already open, and returns a [Ref]; the handle stays open at least until
// the Ref is closed:
//
//	files, err := pool.NewHandles(pool.HandlesConfig[string, *os.File]{
//		Open:        func(_ context.Context, name string) (*os.File, error) { return os.Open(name) },
//		IdleTimeout: time.Minute, // close a file a minute after its last use
//		MaxOpen:     512,         // and keep at most 512 open
//	})
//	...
//	ref, err := files.Get(ctx, name)
//	if err != nil {
//		return err
//	}
//	defer ref.Close()
//	n, err := ref.Value().ReadAt(p, off)
//
// The rules, in short:
//
//   - A handle is reference-counted: any number of holders share it, and a
//     handle in use is never closed, except by [Handles.Close] once its
//     context is done.
//   - The idle delay runs from the last release: a handle closes
//     IdleTimeout after its last Ref was closed, unless a Get takes it
//     first.
//   - MaxOpen makes room by closing the least recently released idle
//     handle. It never closes a held handle and never makes Get wait: when
//     every open handle is held, Get opens one more, and the excess is
//     closed as held handles are released.
//   - Concurrent Gets of a key that is not open call Open once; the others
//     wait for it, each within its own context. An Open error goes to all of
//     them and is not cached.
//   - A Ref is a small value: copy it freely, close it once. A second Close,
//     through any copy, returns [ErrRefClosed] and can never release a
//     reference someone else holds.
//   - Errors from closing handles are never dropped: they go to
//     OnCloseError or the Logger when set, and otherwise wait to be returned
//     by [Handles.Close]; [Handles.Stats] counts them.
//
// One janitor goroutine closes expired handles. It sleeps on a single timer
// set to the earliest deadline of a heap of idle handles (no timer per
// handle, no periodic scan), starts when the first handle becomes idle and
// exits once none is, so an idle cache runs no goroutine: it passes goleak,
// and inside a testing/synctest bubble (create the Handles in the bubble)
// idle expiry can be tested with time.Sleep.
//
// [Handles.Close] refuses new Gets, closes the idle handles, waits for the
// holders until its context is done, then closes the rest and returns a
// [*HeldError] for each reference still held; with TrackHolders set, each
// carries the stack of the Get that took it.
//
// Get of an open handle allocates nothing, and Ref.Close takes no lock
// while the handle stays open. In the HandlesHit benchmark (Get and Close of
// an open handle from parallel goroutines, see internal/bench), Handles
// takes about a quarter of the time of jellydator/ttlcache's Get, and
// about as long as golang-lru's expirable LRU (from as fast to 1.3 times
// slower, from run to run), which only looks a value up and counts no
// holders. Those are caches of values: on expiry or eviction they drop an
// entry, and hand it to an eviction callback, whether or not someone still
// uses it; Handles closes only what nobody holds.
//
// The constructor is NewHandles, and its configuration HandlesConfig,
// because New and Config belong to [Pool].
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
//		MaxLifetime: 30 * time.Minute, // each drawn in [90%, 100%]: no fleet-wide expiry
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
//   - After Open fails, the pool backs off: the delays come from
//     [github.com/reclaim-go/reclaim/retry.Backoff], shaped by
//     Config.OpenBackoff (jittered, doubling, capped). Meanwhile no Open
//     starts, and waiters fail fast with the last Open error instead of
//     waiting for a construction that will not come. The exception is a
//     waiter that a release will serve: while the leases out (and Opens in
//     flight) are at least as many as the waiters, or the pool is full,
//     they keep waiting, so one failed dial does not fail the callers that
//     healthy connections would serve a moment later.
//   - Acquire errors: [*AcquireError] when ctx is done (errors.Is sees
//     ctx.Err() and its cause; it carries a [Stats] snapshot), [ErrBusy]
//     beyond MaxWaiters, [ErrClosed] after Close, and the Open error as
//     above.
//   - [Pool.Close] stops Acquire, fails waiters with ErrClosed, destroys
//     the idle resources, waits for the leases until its context is done,
//     then destroys those under their holders and returns a [*LeaseError]
//     for each, naming where it was acquired when LeakThreshold is set.
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
