package scopemisuse

import (
	"context"
	"errors"
	"log"
	"os"

	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/pool/handles"
	"github.com/reclaim-go/reclaim/retry"
	"github.com/reclaim-go/reclaim/scope"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CloseInto.

func notDeferred() (err error) {
	s := scope.New()
	s.DeferFunc(func() {})
	s.CloseInto(&err) // want `CloseInto on the named result must be deferred`
	return err
}

// The documented way to close as failed: a direct call on a local error.
func closeAsFailed(s *scope.Scope, err error) error {
	if err != nil {
		s.CloseInto(&err)
		return err
	}
	return s.Close()
}

func wrapped() (err error) {
	s := scope.New()
	defer func() { s.CloseInto(&err) }() // want `CloseInto must be deferred directly`
	s.DeferFunc(func() {})
	return nil
}

func localErr() error {
	var err error
	s := scope.New()
	defer s.CloseInto(&err) // want `CloseInto needs the address of the function's named error result`
	s.DeferFunc(func() {})
	return err
}

func good() (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)
	s.DeferFunc(func() {})
	return nil
}

// Scopes neither closed nor handed on.

func leaks(p, q string) error {
	s := scope.New() // want `scope s is neither closed on every path nor returned or stored: the return at line \d+`
	f, err := os.Open(p)
	if err != nil {
		return err // nothing registered yet: not this return
	}
	s.DeferClose(f)
	g, err := os.Open(q)
	if err != nil {
		return err // this one
	}
	s.DeferClose(g)
	return s.Close()
}

// Each registration's handle runs its cleanup: the scope holds nothing.
func runByHandle(p string) error {
	var s scope.Scope
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	h := s.DeferClose(f)
	return h.Run()
}

func zeroValueLeak(p string) {
	var s scope.Scope // want `scope s is neither closed on every path`
	s.DeferFunc(func() {})
}

func closedOnEveryPath(p string) error {
	s := scope.New()
	defer s.Close()
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	s.DeferClose(f)
	return nil
}

func handedOn(p string) (*scope.Scope, error) {
	s := scope.New()
	f, err := os.Open(p)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.DeferClose(f)
	return s.Release(), nil
}

type server struct{ s *scope.Scope }

func stored(srv *server) {
	s := scope.New()
	s.DeferFunc(func() {})
	srv.s = s
}

func fatal() {
	s := scope.New()
	s.DeferFunc(func() {})
	log.Fatal("no return: nothing to leak into")
}

func unused() {
	_ = scope.New()
	var s scope.Scope
	_ = s.Len()
}

// Registration after close in the same loop.

func closedInLoop(paths []string) {
	var s scope.Scope
	defer s.Close()
	for _, p := range paths {
		f, _ := os.Open(p)
		s.DeferClose(f) // want `s.DeferClose in a loop that closes s \(line \d+\)`
		s.Close()
	}
}

func freshPerIteration(paths []string) {
	for _, p := range paths {
		s := scope.New()
		f, _ := os.Open(p)
		s.DeferClose(f)
		s.Close()
	}
}

// retry.Attempt escaping.

var last *retry.Attempt

type holder struct{ a *retry.Attempt }

func escapes(ctx context.Context, h *holder, ch chan *retry.Attempt) error {
	return retry.Do(ctx, retry.Policy{}, func(a *retry.Attempt) error {
		last = a    // want `attempt a is stored outside its function`
		h.a = a     // want `attempt a is stored outside its function`
		ch <- a     // want `attempt a is sent on a channel`
		go func() { // want `attempt a is used by a goroutine`
			_ = a.Number()
		}()
		return nil
	})
}

func staysInside(ctx context.Context) error {
	return retry.Do(ctx, retry.Policy{}, func(a *retry.Attempt) error {
		local := a
		hs := []holder{{a: a}}
		_, _ = local, hs
		go work(a.Context())
		go a.Number() // want `attempt a is used by a goroutine`
		go use(a)     // want `attempt a is used by a goroutine`
		return errors.New("x")
	})
}

func work(ctx context.Context) {}

func use(a *retry.Attempt) {}

// Leases and refs.

func forgotten(ctx context.Context, p *pool.Pool[int]) error {
	l, err := p.Acquire(ctx) // want `pool.Lease l is neither released on every path nor returned or stored: the return at line \d+`
	if err != nil {
		return err
	}
	if l.Value() < 0 {
		return errors.New("negative")
	}
	l.Release()
	return nil
}

func released(ctx context.Context, p *pool.Pool[int]) (int, error) {
	l, err := p.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer l.Release()
	return l.Value(), nil
}

func handedToScope(ctx context.Context, p *pool.Pool[int], s *scope.Scope) error {
	l, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	s.DeferClose(l)
	return nil
}

func returned(ctx context.Context, p *pool.Pool[int]) (pool.Lease[int], error) {
	l, err := p.Acquire(ctx)
	return l, err
}

func refLeak(ctx context.Context, c *handles.Cache[string, int]) int {
	r, err := c.Get(ctx, "k") // want `handles.Ref r is neither released on every path`
	if err == nil {
		return r.Value()
	}
	return 0
}

func refClosed(ctx context.Context, c *handles.Cache[string, int]) (int, error) {
	r, err := c.Get(ctx, "k")
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return r.Value(), nil
}

// Before the split, Ref lived in package pool.
func oldRef(ctx context.Context, h *pool.Handles[string, int]) int {
	r, _ := h.Get(ctx, "k") // want `handles.Ref r is neither released on every path`
	return r.Value()
}

// The error checks that tests and real code use besides `if err != nil`.

func assertIdiom(t any, ctx context.Context, p *pool.Pool[int]) {
	l, err := p.Acquire(ctx)
	if !assert.NoError(t, err) {
		return
	}
	defer l.Release()
}

func expectedFailure(t any, ctx context.Context, p *pool.Pool[int], fail bool) {
	l, err := p.Acquire(ctx)
	if fail {
		require.ErrorIs(t, err, context.Canceled)
		return
	}
	require.NoError(t, err)
	l.Release()
}

func compoundCheck(ctx context.Context, p *pool.Pool[int]) error {
	l, err := p.Acquire(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if err == nil || ctx.Err() != nil {
		l.Release()
	}
	return nil
}
