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
// The first batch is run in place from the Scope's inline entries, which
// the closing Scope no longer uses, so nothing is copied. The unwinder's
// state lives outside the loop so that a cleanup calling runtime.Goexit
// cannot make it forget the rest of a batch.
type unwinder struct {
	ctx      context.Context
	timeout  time.Duration
	failed   bool
	err      error
	pv       any
	panicked bool

	inl  int     // the batch's first entries are the Scope's inline[:inl]
	over []entry // the rest
	next int     // index of the next entry to run, counting down; -1 when done
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
		u.inl = 0
		if !s.inlineTaken {
			// From now on registrations go to overflow, and only this
			// unwinder touches inline. (Keeping a count rather than a
			// slice of it keeps a Scope on the stack from escaping.)
			u.inl = min(s.n, inlineEntries)
			s.inlineTaken = true
		}
		u.over, s.overflow = s.overflow, nil
		u.next = s.n - 1
		s.n = 0
		s.grew.Store(false)
		s.noteLocked()
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
	newer := s.overflow[:s.n]
	s.overflow, s.n = make([]entry, 0, u.next+1+len(newer)), 0
	for i := 0; i <= u.next; i++ {
		e := u.at(s, i)
		s.appendLocked(*e)
		*e = entry{}
	}
	for _, e := range newer {
		s.appendLocked(e)
	}
	u.next = -1
	u.inl, u.over = 0, nil
}

func (u *unwinder) at(s *Scope, i int) *entry {
	if i < u.inl {
		return &s.inline[i]
	}
	return &u.over[i-u.inl]
}

// runBatch runs the taken entries, newest first, until done or until a
// cleanup registered another one: then what is left goes back to s.
func (u *unwinder) runBatch(s *Scope) {
	for !u.runSome(s) {
	}
	u.inl, u.over = 0, nil
}

// runSome runs entries until the batch is done, and reports true then. A
// panicking cleanup ends it early: the panic is recorded and runSome returns
// false, to be called again for the rest. One deferred recover per batch,
// rather than per cleanup, keeps the common path short.
func (u *unwinder) runSome(s *Scope) (done bool) {
	defer func() {
		if !done {
			if r := recover(); r != nil {
				u.failed = true
				if !u.panicked {
					u.pv, u.panicked = r, true
				}
			}
		}
	}()
	for u.next >= 0 {
		if s.grew.Load() {
			s.mu.Lock()
			s.grew.Store(false)
			s.requeueLocked(u)
			s.mu.Unlock()
			return true
		}
		e := u.at(s, u.next)
		u.next--
		ent := *e
		*e = entry{} // the closed scope must not keep the resource reachable
		if ent.kind() == kindFailure && !u.failed {
			continue
		}
		var err error
		if ent.kind() == kindContext && u.timeout > 0 {
			err = runWithTimeout(u.ctx, &ent, u.timeout)
		} else if err = call(u.ctx, &ent); err != nil {
			err = annotate(&ent, err)
		}
		if err != nil {
			u.failed = true
			u.err = multierr.Append(u.err, err)
		}
	}
	return true
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

func call(ctx context.Context, e *entry) error {
	if e.kind() == kindContext {
		return e.c.(ctxFunc)(ctx)
	}
	return e.c.Close()
}
