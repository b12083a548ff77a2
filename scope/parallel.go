package scope

import (
	"context"
	"io"
	"runtime"
	"sync"

	"go.uber.org/multierr"
)

// A Parallel is a group of independent cleanups that takes one place in a
// Scope's stack: when the Scope's unwinding reaches it, its members run
// concurrently, each in a goroutine of its own, and the group finishes when
// all of them have. Cleanups newer than the group run before it starts, and
// older ones after it ends, as for any cleanup. Closing fifty connections
// that take 20 ms each then takes about 20 ms, not one second.
//
// The group's error is its members' errors combined with multierr, newest
// member first, as a Scope would report them had they run one after the
// other. A member that panics does not stop the others; once all have
// ended, the group panics with the value of the oldest member that
// panicked (the one a Scope running them in turn would raise last), and the Scope treats that as it treats any panicking cleanup:
// the older cleanups run, then Close panics. A member that calls
// runtime.Goexit ends its own goroutine only; once all have ended, the
// group calls runtime.Goexit in the goroutine that runs it, as a cleanup
// calling Goexit would. With [CleanupTimeout], the whole group gets one
// deadline, and its members receive a context that ends with it.
//
// Members registered after the group started running run at once, in the
// registering goroutine, and the returned Handle's Run returns their error;
// otherwise the Handle of a member controls nothing (a member runs with its
// group). A Parallel is safe for concurrent use.
type Parallel struct {
	mu      sync.Mutex
	members []io.Closer // as in a Scope's entries: closers, closeFunc, voidFunc, ctxFunc
	started bool
	inline  [8]io.Closer // the first members, without a second allocation
}

// Parallel registers an empty group of concurrent cleanups as one entry of
// s, at this point of its stack, and returns it; add members with its
// methods.
func (s *Scope) Parallel() *Parallel {
	p := &Parallel{}
	p.members = p.inline[:0]
	s.push(ctxFunc(p.run), kindContext)
	return p
}

// Defer adds fn to the group.
func (p *Parallel) Defer(fn func() error) Handle {
	if fn == nil {
		panic("scope: Parallel.Defer called with a nil func")
	}
	return p.add(closeFunc(fn))
}

// DeferFunc adds fn, which cannot fail, to the group.
func (p *Parallel) DeferFunc(fn func()) Handle {
	if fn == nil {
		panic("scope: Parallel.DeferFunc called with a nil func")
	}
	return p.add(voidFunc(fn))
}

// DeferClose adds c.Close to the group. A nil closer panics here.
func (p *Parallel) DeferClose(c io.Closer) Handle {
	if isNil(c) {
		panic("scope: Parallel.DeferClose called with a nil io.Closer")
	}
	return p.add(c)
}

// DeferContext adds fn to the group; it receives the context the group
// runs with (see [Scope.DeferContext]).
func (p *Parallel) DeferContext(fn func(ctx context.Context) error) Handle {
	if fn == nil {
		panic("scope: Parallel.DeferContext called with a nil func")
	}
	return p.add(ctxFunc(fn))
}

func (p *Parallel) add(c io.Closer) Handle {
	p.mu.Lock()
	if !p.started {
		p.members = append(p.members, c)
		p.mu.Unlock()
		return Handle{}
	}
	p.mu.Unlock()
	// The group has run: like a cleanup registered on a closed Scope, the
	// member runs now, so that no resource is silently kept.
	return Handle{err: closeWith(context.Background(), c)}
}

// closeWith runs one member, handing ctx to a context cleanup.
func closeWith(ctx context.Context, c io.Closer) error {
	if f, ok := c.(ctxFunc); ok {
		return f(ctx)
	}
	return c.Close()
}

// memberEnd is how one member ended.
type memberEnd struct {
	err      error
	pv       any
	panicked bool
	goexited bool
}

// run is the group's entry in its Scope's stack.
func (p *Parallel) run(ctx context.Context) error {
	p.mu.Lock()
	p.started = true
	members := p.members
	p.members = nil
	p.mu.Unlock()

	ends := make([]memberEnd, len(members))
	var wg sync.WaitGroup
	wg.Add(len(members))
	for i, c := range members {
		go runMember(ctx, c, &ends[i], &wg)
	}
	wg.Wait()

	var err error
	var pv any
	panicked, goexited := false, false
	for i := len(ends) - 1; i >= 0; i-- { // newest first, as the Scope runs them
		e := ends[i]
		err = multierr.Append(err, e.err)
		if e.panicked { // the oldest one wins, as with cleanups run in turn
			pv, panicked = e.pv, true
		}
		goexited = goexited || e.goexited
	}
	switch {
	case panicked:
		panic(pv)
	case goexited:
		runtime.Goexit()
	}
	return err
}

// runMember runs one member and records in end how it ended, a panic or a
// Goexit included, so that the group can pass it on once every member has
// ended. It writes through a pointer because a Goexit never returns.
func runMember(ctx context.Context, c io.Closer, end *memberEnd, wg *sync.WaitGroup) {
	defer wg.Done()
	normal := false
	defer func() {
		if normal {
			return
		}
		// recover returns nil only for runtime.Goexit: since Go 1.21
		// panic(nil) recovers as a *runtime.PanicNilError.
		if v := recover(); v != nil {
			end.pv, end.panicked = v, true
		} else {
			end.goexited = true
		}
	}()
	end.err = closeWith(ctx, c)
	normal = true
}
