// Package handles shares handles that are costly to open (files, connections
// to other hosts) among their users and closes each once it has been idle for
// a while. A [Ref] implements [io.Closer], and Close gives the reference
// back, so it is returned like any other resource: with defer, or with a
// scope.Scope's DeferClose.
//
// A [Cache] keeps shared handles open while they are in use and for a
// while after: the files a service reads from, connections to the hosts it
// talks to. [Cache.Get] opens the handle for a key, or shares the one
// already open, and returns a [Ref]; the handle stays open at least until
// the Ref is closed:
//
//	files, err := handles.New(handles.Config[string, *os.File]{
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
//     handle in use is never closed, except by [Cache.Close] once its
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
//   - A Ref is a small value: copy it freely, close it once. The rule of
//     every lender in this module (pool.Lease, buffer.Buffer): a second
//     Close, through any copy, returns [ErrRefClosed] and can never release
//     a reference someone else holds; any other use after Close (Value)
//     panics with "handles: Ref used after Close".
//   - Every callback may panic, panic(nil) or call runtime.Goexit, and the
//     cache stays consistent: no key is left opening, no handle stranded,
//     Close drains. On the caller's goroutine (Open and OnCloseError in
//     Get, Close in Get's eviction, Ref.Close or Cache.Close) the cache
//     restores its state in deferred calls and the panic goes on up the
//     caller's stack; the Gets waiting for the same key try again. On the
//     janitor, the cache's own goroutine, a panicking Close never crashes
//     the process nor stops the janitor: it is reported as a [*PanicError]
//     to the Logger, or else kept for [Cache.Close] to return, and counted
//     in [Stats].Panics.
//   - Errors from closing handles are never dropped: they go to
//     OnCloseError or the Logger when set, and otherwise wait to be returned
//     by [Cache.Close]; [Cache.Stats] counts them.
//
// One janitor goroutine closes expired handles. It sleeps on a single timer
// set to the earliest deadline of a heap of idle handles (no timer per
// handle, no periodic scan), starts when the first handle becomes idle and
// exits once none is, so an idle cache runs no goroutine: it passes goleak,
// and inside a testing/synctest bubble (create the Cache in the bubble)
// idle expiry can be tested with time.Sleep.
//
// [Cache.Close] refuses new Gets, closes the idle handles, waits for the
// holders until its context is done, then closes the rest and returns a
// [*HeldError] for each reference still held; with TrackHolders set, each
// carries the stack of the Get that took it. Waiting without a deadline,
// it logs the references still held every 10 seconds.
//
// Get of an open handle allocates nothing, and Ref.Close takes no lock
// while the handle stays open. In the HandlesHit benchmark (Get and Close of
// an open handle from parallel goroutines, see internal/bench), Cache
// takes about a quarter of the time of jellydator/ttlcache's Get, and
// about as long as golang-lru's expirable LRU (from as fast to 1.3 times
// slower, from run to run), which only looks a value up and counts no
// holders. Those are caches of values: on expiry or eviction they drop an
// entry, and hand it to an eviction callback, whether or not someone still
// uses it; Cache closes only what nobody holds.
//
// A [Cache] is safe for concurrent use, and so are the methods of different
// Refs; whether a handle itself may be used concurrently is up to its type.
package handles
