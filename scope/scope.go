package scope

import (
	"context"
	"io"
	"reflect"
	"sync/atomic"
	"unsafe"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/lock"
	"github.com/reclaim-go/reclaim/internal/stack"
)

// A Scope holds cleanups and runs them, newest first, when it is closed.
//
// A zero Scope is ready to use, records no sites, sets no cleanup deadlines
// and is not watched for leaks; [New] makes one with options. All methods are
// safe for concurrent use. A Scope must not be copied after first use.
//
// A Scope is open until Close, CloseContext or CloseInto is first called;
// then it is closing until every cleanup has run, and closed afterwards.
// A closed Scope stays closed: cleanups registered on it run at once.
type Scope struct {
	_ noCopy

	mu lock.Mutex // protects the fields below; see internal/lock for why not sync.Mutex
	// The pending cleanups: inline[:ninl], then the chunks below top (see
	// entries.go); n counts them all.
	inline [inlineEntries]entry
	top    *chunk
	ninl   int
	n      int
	nextID uint64 // ids grow with registration order, so entries are sorted by id
	state  state
	failed bool
	// grew is set when a cleanup is registered while the scope closes, so
	// that the unwinder runs it before older ones, as the newest.
	grew   atomic.Bool
	done   chan struct{} // made by a Close that waits for another; closed when closing ends
	closer uintptr       // goid.Current of the goroutine running the cleanups, while closing
	opts   *options      // nil means defaults
	leak   *leakRecord   // nil when not watched
}

type state uint8

const (
	open state = iota
	closing
	closed
)

// New returns an empty, open Scope configured by opts.
//
// Leak detection defaults to the RECLAIM_LEAKS environment variable, read
// once per process: "off" (the default), "sampled" or "full"; see
// [DetectLeaks]; scopetest.VerifyTestMain turns it on for a whole test run.
// A watched Scope is listed in the pprof profile reclaim.scopes while it is
// open, and one that becomes unreachable while it still holds cleanups is
// reported with the stack that created it.
func New(opts ...Option) *Scope {
	o := buildOptions(opts)
	s := &Scope{opts: o}
	s.watch(1)
	return s
}

// Defer registers fn to run when the scope closes. Its error joins the
// error that Close returns.
func (s *Scope) Defer(fn func() error) Handle {
	if fn == nil {
		panic("scope: Defer called with a nil func")
	}
	return s.push(closeFunc(fn), kindAlways)
}

// DeferFunc registers fn, which cannot fail, to run when the scope closes:
// mu.Unlock, a context's cancel, wg.Done.
func (s *Scope) DeferFunc(fn func()) Handle {
	if fn == nil {
		panic("scope: DeferFunc called with a nil func")
	}
	return s.push(voidFunc(fn), kindAlways)
}

// DeferClose registers c.Close to run when the scope closes. Registering a
// pointer-shaped closer (*os.File, net.Conn, ...) allocates nothing. A nil
// closer, including a nil pointer such as the *os.File of a failed os.Open
// and a nil func, map or chan of a type with a Close method, is a
// programming error and panics here, naming DeferClose, rather than at
// Close.
func (s *Scope) DeferClose(c io.Closer) Handle {
	return s.push(c, kindAlways) // push checks c: inlined, DeferClose costs no second call
}

// DeferContext registers fn to run when the scope closes, with the context
// given to [Scope.CloseContext] ([context.Background] for Close and
// CloseInto, a context without cancellation for [Run]). It suits
// http.Server.Shutdown and other cleanups that honour a deadline; see
// [CleanupTimeout] for a deadline per cleanup.
func (s *Scope) DeferContext(fn func(ctx context.Context) error) Handle {
	if fn == nil {
		panic("scope: DeferContext called with a nil func")
	}
	return s.push(ctxFunc(fn), kindContext)
}

// OnFailure registers fn to run only if the scope closes as failed, in its
// turn among the other cleanups: rollbacks, removing half-written files.
// A scope closes as failed when CloseInto sees an error or a panic, when
// [Run]'s function fails, or, from that point of the unwinding on, when a
// newer cleanup returned an error or panicked. On a successful close fn is
// dropped without running.
func (s *Scope) OnFailure(fn func() error) Handle {
	if fn == nil {
		panic("scope: OnFailure called with a nil func")
	}
	return s.push(closeFunc(fn), kindFailure)
}

// isNil reports whether c is nil or holds a nil pointer, func, map or chan
// (a nil CloserFunc-style adapter included). It reads the interface's data
// word first so that the common case costs no reflection: only those kinds
// are stored in it directly, so only they can leave it nil.
func isNil(c io.Closer) bool {
	return dataNil(c) && (c == nil || holdsNil(c))
}

// dataNil reports whether c's data word is nil, as it is for a nil c.
func dataNil(c io.Closer) bool {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&c))[1] == nil
}

// holdsNil reports whether c, whose data word is nil, holds a nil value
// rather than a zero-size one.
func holdsNil(c io.Closer) bool {
	switch reflect.TypeOf(c).Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.UnsafePointer:
		return true
	}
	return false
}

func (s *Scope) push(c io.Closer, k kind) Handle {
	if isNil(c) {
		// Only DeferClose's closer can be nil here: the other
		// registrations check their func, and a func value is a pointer.
		panic("scope: DeferClose called with a nil io.Closer")
	}
	var pc uintptr
	if s.opts != nil && s.opts.sites {
		pc = stack.Caller(1)
	}
	s.mu.Lock()
	if s.state != open {
		return s.pushLateLocked(entry{c: c, pc: pc, tag: uint64(k)})
	}
	s.nextID++
	id := s.nextID
	// appendLocked, by hand: the common case costs no call.
	if s.top == nil && s.ninl < inlineEntries {
		s.inline[s.ninl] = entry{c: c, pc: pc, tag: id<<2 | uint64(k)}
		s.ninl++
	} else {
		s.appendChunkLocked(entry{c: c, pc: pc, tag: id<<2 | uint64(k)})
	}
	s.n++
	s.noteLocked()
	s.mu.Unlock()
	return Handle{s: s, id: id}
}

// pushLateLocked registers e on a closing Scope, where it is the newest
// cleanup of the unwinding, or runs it at once on a closed one. Caller must
// hold s.mu, which pushLateLocked releases.
func (s *Scope) pushLateLocked(e entry) Handle {
	if s.state == closed {
		failed := s.failed
		s.mu.Unlock()
		return Handle{err: s.runNow(e, failed)}
	}
	s.nextID++
	id := s.nextID
	e.tag |= id << 2
	s.appendLocked(e)
	s.grew.Store(true)
	s.noteLocked()
	s.mu.Unlock()
	return Handle{s: s, id: id}
}

// runNow runs a cleanup outside of Close: one registered after the scope
// closed, at once, so that no resource is silently kept (a failure-only one
// only if the scope closed as failed), or one taken by [Handle.Run]. It
// honours [CleanupTimeout]; panics propagate to the caller.
func (s *Scope) runNow(e entry, failed bool) error {
	if e.kind() == kindFailure && !failed {
		return nil
	}
	if d := s.timeout(); d > 0 && e.kind() == kindContext {
		return runWithTimeout(context.Background(), &e, d)
	}
	return annotate(&e, call(context.Background(), &e))
}

// Len returns the number of cleanups waiting to run.
func (s *Scope) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Release moves every pending cleanup that runs on every close, in order,
// into a new Scope with the same options and returns it, leaving the
// receiver open and empty. A constructor that acquired several resources
// hands them to its caller this way only once all of them succeeded:
//
//	s := scope.New()
//	defer s.CloseInto(&err) // closes what was opened if we fail
//	...
//	return &Thing{a: a, b: b, cleanup: s.Release()}, nil
//
// The failure-only cleanups ([Scope.OnFailure]) are dropped, not moved:
// they are the rollbacks of a construction that has succeeded by the time
// it calls Release, and must not run at the object's own Close, which is no
// failure of the construction. So call Release last, once nothing can fail.
//
// Handles of the moved cleanups stay bound to the receiver and no longer
// control them. Release on a closing or closed Scope panics.
func (s *Scope) Release() *Scope {
	ns := &Scope{opts: s.opts}
	s.mu.Lock()
	if s.state != open {
		s.mu.Unlock()
		panic("scope: Release called on a closed Scope")
	}
	s.drainLocked(func(e entry) {
		if e.kind() == kindFailure {
			return
		}
		ns.nextID++
		e.tag = ns.nextID<<2 | uint64(e.kind())
		ns.appendLocked(e)
	})
	s.mu.Unlock()
	ns.watch(1)
	ns.noteLocked()
	return ns
}

// Close runs every pending cleanup, newest first, and returns their errors
// combined with multierr: [multierr.Errors] lists them in the order the
// cleanups ran, and [errors.Is] sees each. Failure-only cleanups
// ([Scope.OnFailure]) run only if a newer cleanup failed.
//
// A failing, panicking or Goexiting cleanup does not stop the ones after
// it. If a cleanup panicked, Close panics once all cleanups have run, with
// the latest value as defer statements would; a runtime.Goexit goes on
// likewise. The bug stays loud and the resources are still released (see
// the package doc).
//
// A cleanup registered while Close runs also runs before Close returns; one
// registered after Close returned runs at once. Close is idempotent: a second
// call runs nothing and returns nil, a call made from another goroutine
// while another is running waits until every cleanup has finished, then
// returns nil, and a call made from one of the Scope's own cleanups returns
// nil at once.
func (s *Scope) Close() error {
	return s.CloseContext(context.Background())
}

// CloseContext is like [Scope.Close] but hands ctx to the context cleanups
// registered with [Scope.DeferContext]. Every cleanup runs even when ctx is
// done: a cleanup that honours ctx just returns sooner.
func (s *Scope) CloseContext(ctx context.Context) error {
	return s.close(ctx, false, nil, nil)
}

// CloseInto closes the scope and appends the cleanups' errors to *errp,
// after the error already there. It is meant to be deferred directly, with
// a named error result:
//
//	func copyFile(dst, src string) (err error) {
//		s := scope.New()
//		defer s.CloseInto(&err)
//		...
//	}
//
// When *errp is non-nil, the scope closes as failed, so [Scope.OnFailure]
// cleanups run. When the function is panicking, the scope closes as failed,
// runs every cleanup, then panics again with the original value, whatever
// the cleanups did. When a cleanup panics or calls runtime.Goexit, the
// errors are appended before that goes on. Called other than directly by
// defer, CloseInto cannot see a panic. runtime.Goexit is not a panic:
// CloseInto runs the cleanups but treats it as success unless *errp is set;
// [Run] treats it as a failure.
//
// A nil errp is a programming error that must not lose anything: CloseInto
// still runs every cleanup (as failed if the function is panicking), then
// panics, with the function's own panic value if it has one, and otherwise
// with an error that says "CloseInto called with a nil error pointer" and
// wraps the cleanups' errors.
func (s *Scope) CloseInto(errp *error) {
	r := recover()
	if errp == nil {
		s.closeIntoNil(r)
		return
	}
	err := s.close(context.Background(), r != nil || *errp != nil, errp, r)
	*errp = multierr.Append(*errp, err)
	if r != nil {
		panic(r)
	}
}

// closeIntoNil closes the scope for a CloseInto given a nil pointer, as
// failed if the function is panicking, and then panics: with the function's
// own panic value r if there is one, else with an error that names the
// mistake and wraps the cleanups' errors, which have nowhere else to go.
func (s *Scope) closeIntoNil(r any) {
	var err error
	err = multierr.Append(err, s.close(context.Background(), r != nil, &err, r))
	if r != nil {
		panic(r)
	}
	panic(&misuseError{msg: "scope: CloseInto called with a nil error pointer", err: err})
}

// A Handle controls one registered cleanup: run it now, or cancel it, leaving
// the rest of the stack intact. The zero Handle controls nothing. Handles
// are small values, safe to copy and to use concurrently with the Scope.
type Handle struct {
	s   *Scope
	id  uint64
	err error // result of a cleanup that ran at registration
}

// Run runs the cleanup now, in the calling goroutine (a context cleanup
// under [CleanupTimeout] in one of its own, abandoned at its deadline), and
// returns its error,
// if it is still pending; it is then removed from the scope and will not run
// again. A failure-only cleanup runs too: calling Run asks for it. If the
// cleanup already ran, was cancelled, was moved away by [Scope.Release], or
// was already taken by a Close in progress, Run returns nil; it never waits
// for Close. For a
// cleanup that ran at registration because the scope was already closed, Run
// returns the error of that run. A panic in the cleanup propagates to the
// caller of Run.
func (h Handle) Run() error {
	if h.s == nil {
		return h.err
	}
	e, ok := h.take()
	if !ok {
		return nil
	}
	return h.s.runNow(e, true)
}

// Cancel removes the cleanup without running it and reports whether it was
// still pending. After a successful Cancel the caller is responsible for the
// resource again.
func (h Handle) Cancel() bool {
	if h.s == nil {
		return false
	}
	_, ok := h.take()
	return ok
}

func (h Handle) take() (entry, bool) {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeLocked(h.id)
}

// Run calls fn with a Scope and closes the scope when fn returns: as failed
// (running [Scope.OnFailure] cleanups) when fn returns an error, panics or
// calls runtime.Goexit. fn's context is cancelled when fn returns, before
// any cleanup runs, so goroutines started by fn are told to stop. The
// cleanups receive [context.WithoutCancel] of ctx: a cancelled request must
// not cancel its own cleanup, and its values stay visible.
//
// Run returns fn's error followed by the cleanups' errors, combined with
// multierr. If fn panics, Run re-panics with the same value after the
// cleanups ran. opts configure the Scope as they would with [New]
// ([CleanupTimeout], [RecordSites]); it is never watched for leaks, since
// Run always closes it.
func Run(ctx context.Context, fn func(ctx context.Context, s *Scope) error, opts ...Option) (err error) {
	var s Scope
	if len(opts) > 0 {
		s.opts = buildOptions(opts) // never watched for leaks: Run always closes it
	}
	fctx, cancel := context.WithCancel(ctx)
	returned := false
	defer func() {
		cancel()
		r := recover()
		cerr := s.close(context.WithoutCancel(ctx), r != nil || !returned || err != nil, &err, r)
		err = multierr.Append(err, cerr)
		if r != nil {
			panic(r)
		}
	}()
	err = fn(fctx, &s)
	returned = true
	return err
}

// noCopy makes go vet's copylocks check flag copies of a Scope.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
