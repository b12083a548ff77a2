package scope

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/stack"
)

// A Background owns cleanups that a Scope starts but does not wait for:
// flushing a log, sending an audit record or metrics after a request has
// been answered. [Scope.DeferBackground] registers one; when the Scope's
// unwinding reaches it, the cleanup is handed to its Background and the
// unwinding goes on at once. The Background runs it on one of at most
// limit goroutines, which exist only while there is work, and its
// [Background.Close] waits for every cleanup started through it, returns
// their errors, and names those still running when its context ends.
//
// A Background lives longer than the Scopes that use it, typically as long
// as the service: hand it to a lifecycle.Group as a ContextCloser, so that
// the shutdown drains the background cleanups within the grace period.
//
// A panic in a background cleanup is recovered (there is no caller left to
// receive it) and returned by Close as a [*PanicError]; a cleanup that calls
// runtime.Goexit is reported by Close as failed. A Background is safe for
// concurrent use.
type Background struct {
	limit int

	mu      sync.Mutex
	queue   []*bgTask // waiting for a goroutine, oldest first
	running map[*bgTask]struct{}
	workers int
	closed  bool
	errs    []error
	idle    chan struct{} // closed when queue and running are both empty; nil when idle
}

// A bgTask is one background cleanup.
type bgTask struct {
	fn      func(context.Context) error
	ctx     context.Context
	cancel  context.CancelFunc
	pc      uintptr // where it was registered
	started time.Time
}

// DefaultBackgroundLimit is the number of goroutines a Background made with
// a limit of zero or less runs at most.
const DefaultBackgroundLimit = 16

// NewBackground returns a Background that runs at most limit cleanups at
// once (a limit of zero or less means [DefaultBackgroundLimit]); the others
// wait their turn in order, without a goroutine each, so a burst of
// requests does not start a burst of goroutines.
func NewBackground(limit int) *Background {
	if limit <= 0 {
		limit = DefaultBackgroundLimit
	}
	return &Background{limit: limit, running: map[*bgTask]struct{}{}}
}

// DeferBackground registers fn as a background cleanup owned by b: when the
// scope closes, fn is started on b and the unwinding goes on without
// waiting for it. fn's context carries the values of the context the scope
// closes with, but not its cancellation or deadline; it is cancelled when
// b's Close gives up waiting. fn's error, and its panic, go to b's Close.
//
// If b is closed when the scope reaches fn, fn runs at once, in the
// unwinding, as an ordinary context cleanup: a resource is never silently
// kept. A nil b or fn panics here.
func (s *Scope) DeferBackground(b *Background, fn func(ctx context.Context) error) Handle {
	if b == nil {
		panic("scope: DeferBackground called with a nil *Background")
	}
	if fn == nil {
		panic("scope: DeferBackground called with a nil func")
	}
	pc := stack.Caller(0)
	return s.push(ctxFunc(func(ctx context.Context) error { return b.start(ctx, fn, pc) }), kindContext)
}

// start hands fn to b, or runs it now if b is closed.
func (b *Background) start(ctx context.Context, fn func(context.Context) error, pc uintptr) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fn(ctx)
	}
	t := &bgTask{fn: fn, pc: pc}
	t.ctx, t.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if b.idle == nil {
		b.idle = make(chan struct{})
	}
	if b.workers < b.limit {
		b.workers++
		b.running[t] = struct{}{}
		t.started = time.Now()
		b.mu.Unlock()
		go b.work(t)
		return nil
	}
	b.queue = append(b.queue, t)
	b.mu.Unlock()
	return nil
}

// work runs t, then the queued tasks, until there are none.
func (b *Background) work(t *bgTask) {
	for t != nil {
		err := b.runTask(t)
		t = b.finish(t, err)
	}
}

// runTask runs t and turns a panic or a Goexit into an error. A Goexit ends
// the worker's goroutine, so it hands the rest of the queue to a new one.
func (b *Background) runTask(t *bgTask) (err error) {
	normal := false
	defer func() {
		if normal {
			return
		}
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Cleanup: siteOf(t.pc), Stack: string(debug.Stack())}
			return
		}
		// runtime.Goexit: this goroutine is ending whatever we do.
		next := b.finish(t, fmt.Errorf("scope: background cleanup registered at %s called runtime.Goexit", siteOf(t.pc)))
		if next != nil {
			go b.work(next)
		}
	}()
	err = t.fn(t.ctx)
	normal = true
	return err
}

// finish records t's end and returns the next queued task for this
// goroutine, or nil when there is none and the goroutine should end.
func (b *Background) finish(t *bgTask, err error) *bgTask {
	t.cancel()
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.running, t)
	if err != nil {
		b.errs = append(b.errs, err)
	}
	if len(b.queue) > 0 {
		next := b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[1:]
		next.started = time.Now()
		b.running[next] = struct{}{}
		return next
	}
	b.workers--
	if len(b.running) == 0 && b.idle != nil {
		close(b.idle)
		b.idle = nil
	}
	return nil
}

// Close stops b from taking new cleanups (those reached afterwards run in
// their Scope's unwinding), waits until every background cleanup has ended
// or ctx is done, and returns the cleanups' errors combined with multierr.
// If ctx ends first, Close cancels the contexts of the cleanups still
// running or waiting, and its error also names each of them with where it
// was registered and wraps ctx's error: they are the goroutines that
// outlive Close. A later Close waits again, and returns the errors that
// came since.
func (b *Background) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	idle := b.idle
	b.mu.Unlock()

	drained := true
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			select {
			case <-idle:
			default:
				drained = false
			}
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	err := multierr.Combine(b.errs...)
	b.errs = nil
	if drained {
		return err
	}
	var names []string
	now := time.Now()
	for t := range b.running {
		t.cancel()
		names = append(names, fmt.Sprintf("registered at %s (running for %v)", siteOf(t.pc), now.Sub(t.started).Round(time.Millisecond)))
	}
	for _, t := range b.queue {
		t.cancel()
		names = append(names, fmt.Sprintf("registered at %s (not started)", siteOf(t.pc)))
	}
	return multierr.Append(err, fmt.Errorf("scope: Background.Close gave up on %d cleanup(s): %s: %w",
		len(names), strings.Join(names, "; "), ctx.Err()))
}

// PanicError is the error of a background cleanup that panicked: there was
// no caller left to panic in, so [Background.Close] returns it.
type PanicError struct {
	Value   any    // what the cleanup panicked with
	Cleanup string // where the cleanup was registered, file:line
	Stack   string // the stack of the panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("scope: background cleanup registered at %s panicked: %v", e.Cleanup, e.Value)
}

// Unwrap returns the panic's value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

func siteOf(pc uintptr) string {
	site, _ := stack.Site(pc)
	return site
}
