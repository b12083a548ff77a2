package scope

import (
	"context"
	"time"

	"go.uber.org/multierr"
)

// An unwinder runs the cleanups of one Close. It takes the pending entries
// in batches, the whole stack at a time, so that Close pays one lock round
// trip per batch rather than per cleanup, and it runs them with the lock
// released, so that cleanups may register more (they form the next batch).
// Its state lives outside the loop so that a cleanup calling
// runtime.Goexit cannot make it forget the rest of a batch.
type unwinder struct {
	ctx      context.Context
	timeout  time.Duration
	failed   bool
	err      error
	pv       any
	panicked bool

	batch [inlineEntries]entry
	over  []entry
	next  int // index of the next entry to run, counting down; -1 when done
}

// close runs the cleanups and returns their combined error and the first
// panic value, for the caller to re-raise.
func (s *Scope) close(ctx context.Context, failed bool) (pv any, panicked bool, err error) {
	s.mu.Lock()
	switch s.state {
	case closed:
		s.mu.Unlock()
		return nil, false, nil
	case closing:
		if s.done == nil {
			s.done = make(chan struct{})
		}
		done := s.done
		s.mu.Unlock()
		<-done
		return nil, false, nil
	}
	s.state = closing
	u := unwinder{ctx: ctx, timeout: s.timeout(), failed: s.failed || failed, next: -1}

	finished := false
	defer func() {
		if !finished {
			// A cleanup called runtime.Goexit, which cannot be stopped. Run
			// the rest as it unwinds so nothing is leaked, then let it go on.
			u.failed = true
			u.runBatch(s)
			s.mu.Lock()
			s.unwindLocked(&u)
			s.finishLocked(&u)
			s.mu.Unlock()
		}
	}()
	s.unwindLocked(&u)
	s.finishLocked(&u)
	finished = true
	s.mu.Unlock()
	return u.pv, u.panicked, u.err
}

// unwindLocked runs batches until the stack stays empty. Caller must hold
// s.mu; it is released while cleanups run and held again on return.
func (s *Scope) unwindLocked(u *unwinder) {
	for s.n > 0 {
		n := s.n
		inl := min(n, inlineEntries)
		copy(u.batch[:inl], s.inline[:inl])
		clear(s.inline[:inl])
		u.over, s.overflow = s.overflow, nil
		s.n = 0
		s.grew.Store(false)
		s.noteLocked()
		u.next = n - 1
		s.mu.Unlock()
		u.runBatch(s)
		s.mu.Lock()
	}
}

// requeueLocked puts the entries of the batch that have not run back on the
// stack beneath the ones registered since it was taken, so that the newest
// run first. Their ids are lower, so the stack stays sorted. Caller must
// hold s.mu.
func (s *Scope) requeueLocked(u *unwinder) {
	newer := make([]entry, s.n)
	for i := range newer {
		newer[i] = *s.at(i)
	}
	clear(s.inline[:])
	s.overflow, s.n = nil, 0
	for i := 0; i <= u.next; i++ {
		s.appendLocked(*u.at(i))
	}
	for _, e := range newer {
		s.appendLocked(e)
	}
	u.next = -1
	u.over = nil
}

func (u *unwinder) at(i int) *entry {
	if i >= inlineEntries {
		return &u.over[i-inlineEntries]
	}
	return &u.batch[i]
}

// runBatch runs the taken entries, newest first, until done or until a
// cleanup registered another one: then what is left goes back to s.
func (u *unwinder) runBatch(s *Scope) {
	for u.next >= 0 {
		if s.grew.Load() {
			s.mu.Lock()
			s.grew.Store(false)
			s.requeueLocked(u)
			s.mu.Unlock()
			return
		}
		e := u.at(u.next)
		u.next--
		if e.kind == kindFailure && !u.failed {
			continue
		}
		v, p, err := run(u.ctx, e, u.timeout)
		if p {
			u.failed = true
			if !u.panicked {
				u.pv, u.panicked = v, true
			}
		}
		if err != nil {
			u.failed = true
			u.err = multierr.Append(u.err, err)
		}
	}
	u.over = nil
}

func (s *Scope) finishLocked(u *unwinder) {
	s.state = closed
	s.failed = u.failed
	if s.done != nil {
		close(s.done)
	}
	s.noteLocked()
}

func (s *Scope) timeout() time.Duration {
	if s.opts == nil {
		return 0
	}
	return s.opts.cleanupTimeout
}

// run calls one cleanup, recovering a panic so that the caller can go on
// with the others.
func run(ctx context.Context, e *entry, timeout time.Duration) (pv any, panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			pv, panicked = r, true
		}
	}()
	if e.kind == kindContext && timeout > 0 {
		return nil, false, runWithTimeout(ctx, e, timeout)
	}
	return nil, false, annotate(e, call(ctx, e))
}

func call(ctx context.Context, e *entry) error {
	if e.kind == kindContext {
		return e.c.(ctxFunc)(ctx)
	}
	return e.c.Close()
}
