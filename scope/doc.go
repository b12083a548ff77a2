// Package scope releases what a function acquired: a [Scope] collects
// cleanups and runs them newest first when it is closed, keeping every
// error.
//
// A Scope is to defer what [sync.WaitGroup] is to go statements: the same
// idea with the bookkeeping done for you. Ad hoc defer chains lose Close
// errors, hold every file of a loop open until the function returns, roll
// back after a successful commit or forget to roll back on the error path,
// and cannot hand their resources to a caller. A Scope fixes each of these
// with one line.
//
// # Paired acquire and release
//
// Register the release right after the acquire succeeds. Close runs the
// cleanups in reverse order and returns their errors combined with
// [go.uber.org/multierr]: none is dropped, on the success path included.
//
//	var s scope.Scope // the zero Scope is ready to use, on the stack
//	f, err := os.Open(name)
//	if err != nil {
//		return err
//	}
//	s.DeferClose(f) // allocates nothing
//	mu.Lock()
//	s.DeferFunc(mu.Unlock) // a method value: one allocation (see Cost)
//	return s.Close() // unlocks, then closes f, and reports f.Close's error
//
// # Defer and error: CloseInto
//
// With a named error result, `defer s.CloseInto(&err)` closes the scope when
// the function returns and appends the cleanups' errors after the body's.
// The body's error stays first, so errors.Is and the message still lead with
// what went wrong.
//
//	func save(name string, data []byte) (err error) {
//		var s scope.Scope
//		defer s.CloseInto(&err)
//		f, err := os.Create(name)
//		if err != nil {
//			return err
//		}
//		s.DeferClose(f) // a failed flush-on-close is reported, not lost
//		_, err = f.Write(data)
//		return err
//	}
//
// # Rollback only on failure
//
// [Scope.OnFailure] registers a cleanup that runs only when the scope closes
// as failed (Zig's errdefer): CloseInto saw an error or a panic, [Run]'s
// function failed, or a newer cleanup failed during the unwinding. Remove
// the half-written file, roll back the transaction; on success the cleanup
// is dropped.
//
//	out, err := os.Create(dst)
//	...
//	s.OnFailure(func() error { return os.Remove(dst) })
//	s.DeferClose(out) // if this Close fails, the remove above runs too
//
// # A constructor hands its resources over: Release
//
// A constructor that opens several things must close the ones it opened when
// a later one fails, and keep all of them when it succeeds. [Scope.Release]
// moves every pending cleanup into a new Scope that the caller owns:
//
//	func newStore(dir string) (_ *store, err error) {
//		var s scope.Scope
//		defer s.CloseInto(&err) // closes a and b if c fails
//		a, err := open(dir, "a") ...; s.DeferClose(a)
//		b, err := open(dir, "b") ...; s.DeferClose(b)
//		c, err := open(dir, "c") ...; s.DeferClose(c)
//		return &store{a, b, c, closer: s.Release()}, nil // s is empty now
//	}
//
// The constructor's [Scope.OnFailure] rollbacks are dropped by Release: they
// belong to the construction, which has succeeded, and do not run at the
// object's own Close.
//
// # Closing early inside a loop: handles
//
// A defer in a loop holds every file until the function returns. Every
// registration returns a [Handle] that runs its one cleanup now
// ([Handle.Run]) or forgets it ([Handle.Cancel]), leaving the rest of the
// stack intact; the file is still closed if the loop body fails before it
// gets there.
//
//	for _, name := range names {
//		f, err := os.Open(name)
//		if err != nil {
//			return err // every file opened so far is closed by the scope
//		}
//		h := s.DeferClose(f)
//		if err := process(f); err != nil {
//			return err
//		}
//		if err := h.Run(); err != nil { // close this one now
//			return err
//		}
//	}
//
// # Run, and contexts for cleanups
//
// [Run] wraps one function in a Scope and closes it as failed when the
// function errs, panics or calls runtime.Goexit. The function's context is
// cancelled as it returns, before any cleanup runs, and the cleanups receive
// [context.WithoutCancel] of the caller's context: a cancelled request must
// not cancel its own cleanup. [Scope.DeferContext] registers cleanups that
// take a context, such as http.Server.Shutdown; [Scope.CloseContext] passes
// its context to them.
//
// With the [CleanupTimeout] option each context cleanup also gets its own
// deadline: the earlier of the CloseContext deadline and the timeout. One
// that has not returned by then is abandoned, named in the error, and the
// unwinding goes on; the same holds for [Handle.Run] and for a cleanup
// registered after Close. An abandoned cleanup's goroutine lives on until
// the cleanup returns, and may overlap the older cleanups; its late error or
// panic is reported to slog.Default (with the panic's stack), not raised:
// whether a cleanup is abandoned can depend on scheduling, which must not
// decide whether the program crashes. Without CleanupTimeout a cleanup that ignores its context is
// waited for.
//
// # Errors
//
// Close returns nil when every cleanup succeeded, the error itself when one
// failed, and a multierr combination otherwise: [multierr.Errors] lists them
// in the order the cleanups ran, and errors.Is and errors.As see each one.
// With [RecordSites], each error is a [*CleanupError] that names the cleanup
// and the file:line where it was registered.
//
// # Panics, runtime.Goexit and os.Exit
//
// A Scope unwinds as the defer statements it replaces would. A cleanup that
// panics or calls runtime.Goexit (t.FailNow, require.NoError in a test) does
// not stop the others: the older cleanups run, each exactly once, the scope
// is closed, and then the panic or Goexit goes on to Close's caller, any
// number of times over. When several cleanups panic, the panic that goes on
// is the latest, the oldest cleanup's, as with defer; every one of them is
// printed if the program crashes. The one difference from defer: where a
// Goexit would silently drop a panic already under way, a Scope raises the
// panic, so that no panic is swallowed. The panic is raised from within the
// deferred call that recovered it, so a crash shows the file and line of the
// cleanup that panicked, and a recover sees the cleanup's value itself. A
// cleanup that panicked or called Goexit fails the rest of the unwinding:
// older [Scope.OnFailure] cleanups run.
//
// Errors survive a panic or Goexit where there is somewhere to put them:
// CloseInto and [Run] append them to the error before the panic or Goexit
// goes on; Close, which does not return then, loses them, as any function
// does. A function that panics under `defer s.CloseInto(&err)` closes its
// scope as failed and keeps panicking with its own value, whatever the
// cleanups do.
//
// runtime.Goexit in the function itself runs deferred calls, so a deferred
// Close still runs every cleanup; CloseInto cannot tell Goexit from a normal
// return and closes as failed only if the error is set, while [Run] sees it
// and closes as failed. os.Exit, log.Fatal and a fatal runtime error run no
// deferred calls at all: their cleanups do not run, as with defer. Close
// scopes before calling os.Exit, or return from main instead.
//
// # Late registration, concurrency and reuse
//
// All methods are safe for concurrent use. Cleanups run one at a time, in
// the goroutine that called Close, with no lock held (a cleanup abandoned by
// [CleanupTimeout] is the exception: it may still be running while the older
// ones run), so a cleanup may register further cleanups: they run before
// Close returns. A cleanup registered after Close returned runs at once, in
// the registering goroutine: a resource is never silently kept. Close is
// idempotent; a Close that finds another one running in another goroutine
// waits until every cleanup has finished. A Close called from one of the
// Scope's own cleanups (an object whose Close closes the Scope that holds
// it) returns nil at once: the Close already under way runs the rest and
// reports their errors. (This needs to know the calling goroutine, which
// the package finds on amd64 and arm64; elsewhere such a Close waits for
// itself, as a sync.Once does.) A closed Scope is not reopened; use a new
// one.
//
// # Parallel and background cleanups
//
// Cleanups run one at a time, which is what dependent resources need (the
// transaction before the connection). For independent slow ones there are
// two other shapes:
//
//   - [Scope.Parallel] registers a group that takes one place in the stack
//     and runs its members concurrently when reached: closing fifty
//     connections, flushing several files. Close still waits for all of
//     them, keeps every error, and re-raises a member's panic after the
//     whole Scope unwound.
//   - [Scope.DeferBackground] hands a cleanup to a [Background], a
//     longer-lived owner, and does not wait for it: an audit record or a
//     metrics flush after a request was answered. The Background bounds how
//     many run at once, and its Close, at shutdown, waits for them within
//     its context, returns their errors and names those still running.
//
// Use Defer, DeferClose and OnFailure when a cleanup must be done before the
// function goes on; Parallel when several must be done but need not wait
// for each other; DeferBackground when nobody needs to wait for it but the
// process must not exit before it ends.
//
// # Leak detection
//
// A Scope made by [New] can be watched for leaks: if it becomes unreachable
// while it still holds cleanups, it is reported with the stack that created
// it (via runtime.AddCleanup). The level is [LeaksOff], [LeaksSampled] or
// [LeaksFull], set by the [DetectLeaks] option or, for whole test runs, by
// the RECLAIM_LEAKS environment variable (off, sampled, full). Off costs
// one atomic load. The zero Scope is never watched, so that a Scope on the
// stack stays free. A watched Scope is listed, with the stack that created
// it, in the pprof profile reclaim.scopes while it is open. Package
// [github.com/reclaim-go/reclaim/scope/scopetest] fails a test run
// (VerifyTestMain, which watches every Scope) or a test (CheckLeaks) when
// scopes leak.
//
// # Cost
//
// A Scope held on the stack takes up to eight registrations, then Close,
// without allocating, provided each registration is itself free. Free are
// [Scope.DeferClose] of a pointer-shaped closer (*os.File, net.Conn, a
// pointer to your type), and Defer, DeferFunc, DeferContext and OnFailure of
// a top-level function or of a func literal that captures nothing. A method
// value such as mu.Unlock, or a closure that captures variables, is a func
// value made for the call; since the Scope keeps it, the compiler allocates
// it, one allocation per registration, as it would for any func kept for
// later. The ninth and later pending cleanups go to chunks of 64 entries
// that Close hands back to a process-wide pool: a chunk is allocated only
// when the pool has none (at first, or after a garbage collection emptied
// it), so that in a steady workload a Scope of any size takes its
// registrations without allocating, and no registration copies older ones.
// A Scope from [New] costs one allocation with default options, and a
// context cleanup run under [CleanupTimeout] costs a goroutine and a timer.
package scope
