package scope

import (
	"context"
	"time"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/goid"
)

// An unwinder runs the cleanups of one Close. It takes the pending entries
// in batches, the whole stack at a time, so that Close pays one lock round
// trip per batch rather than per cleanup, and it runs them with the lock
// released, so that cleanups may register more (they form the next batch).
// The first batch is run in place from the Scope's inline entries, which
// the closing Scope no longer uses, so nothing is copied.
//
// A cleanup that panics or calls runtime.Goexit does not return to the loop.
// The loop's deferred function then runs the rest of the unwinding itself,
// before the panic or Goexit goes on, exactly where a chain of defer
// statements would run the older ones. Because it runs inside that deferred
// call, the frames of the cleanup that panicked stay on the stack, so a
// crash shows the line that panicked; and since every batch has such a
// deferred function, any number of panics and Goexits nest without losing a
// cleanup. The unwinder's state lives outside the loop for the same reason.
type unwinder struct {
	ctx     context.Context
	timeout time.Duration
	failed  bool
	err     error
	// pv is the panic to raise once every cleanup ran. With own set it is
	// the caller's panic (CloseInto, Run), which a cleanup's does not
	// replace; otherwise it is the latest cleanup panic, as with defer.
	pv       any
	panicked bool
	own      bool
	finished bool

	inl  int     // the batch's first entries are the Scope's inline[:inl]
	over []entry // the rest
	next int     // index of the next entry to run, counting down; -1 when done

	hold bool    // HoldFailureCleanups
	held []entry // failure-only entries passed before anything failed, newest first
}

// close runs the cleanups and returns their combined error, unless a
// cleanup panicked or called runtime.Goexit: then close does not return;
// once every cleanup ran, the errors go to *errp (if errp is set) and the
// panic or Goexit goes on. own, if not nil, is the caller's own panic,
// which close raises in that case and the caller raises otherwise.
func (s *Scope) close(ctx context.Context, failed bool, errp *error, own any) error {
	s.mu.Lock()
	switch s.state {
	case closed:
		s.mu.Unlock()
		return nil
	case closing:
		if id := goid.Current(); id != 0 && id == s.closer {
			// Called from one of our own cleanups: the Close in progress
			// below us runs what is left; waiting for it would hang.
			s.mu.Unlock()
			return nil
		}
		if s.done == nil {
			s.done = make(chan struct{})
		}
		done := s.done
		s.mu.Unlock()
		<-done
		return nil
	}
	s.state = closing
	s.closer = goid.Current()
	u := unwinder{ctx: ctx, timeout: s.timeout(), failed: s.failed || failed, next: -1,
		hold: s.opts != nil && s.opts.holdFailures}
	if own != nil {
		u.pv, u.panicked, u.own = own, true, true
	}
	// errp is passed down rather than kept in u: u's contents escape with
	// the panic value, and a pointer kept there would make *errp escape too.
	s.unwindLocked(&u, errp)
	if !u.finished {
		s.finishLocked(&u)
	}
	s.mu.Unlock()
	return u.err
}

// unwindLocked runs batches until the stack stays empty, then, if the
// unwinding failed, the failure-only cleanups it held back. Caller must
// hold s.mu; it is released while cleanups run and held again on return.
func (s *Scope) unwindLocked(u *unwinder, errp *error) {
	for s.n > 0 || (u.failed && len(u.held) > 0) {
		if s.n == 0 {
			// The stack is empty and is sorted oldest first: put the held
			// entries back in that order, to run newest first.
			for i := len(u.held) - 1; i >= 0; i-- {
				s.appendLocked(u.held[i])
			}
			u.held = nil
		}
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
		u.runBatch(s, errp)
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
func (u *unwinder) runBatch(s *Scope, errp *error) {
	u.runSome(s, errp)
	u.inl, u.over = 0, nil
}

// runSome runs entries until the batch is done. If a cleanup panics or
// calls runtime.Goexit, its deferred function finishes the whole unwinding
// (see unwinder) and lets the panic or Goexit go on; one deferred function
// per batch, rather than per cleanup, keeps the common path short.
func (u *unwinder) runSome(s *Scope, errp *error) {
	done := false
	defer func() {
		if done {
			return
		}
		// recover returns nil for runtime.Goexit, which cannot be stopped.
		if r := recover(); r != nil && !u.own {
			u.pv, u.panicked = r, true
		}
		u.failed = true
		u.runBatch(s, errp)
		s.mu.Lock()
		s.unwindLocked(u, errp)
		if !u.finished {
			s.finishLocked(u)
		}
		s.mu.Unlock()
		if errp != nil {
			*errp = multierr.Append(*errp, u.err)
			u.err = nil // delivered, should close return after all
		}
		if u.panicked {
			// Raised here, inside the deferred call, the panic keeps the
			// stack of the cleanup that panicked. It is raised even if an
			// older cleanup called Goexit, which plain defers would let
			// drop it.
			panic(u.pv)
		}
		// Only a Goexit is left: returning lets it go on.
	}()
	for u.next >= 0 {
		if s.grew.Load() {
			s.mu.Lock()
			s.grew.Store(false)
			s.requeueLocked(u)
			s.mu.Unlock()
			break
		}
		e := u.at(s, u.next)
		u.next--
		ent := *e
		*e = entry{} // the closed scope must not keep the resource reachable
		if ent.kind() == kindFailure && !u.failed {
			if u.hold {
				u.held = append(u.held, ent)
			}
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
	done = true
}

func (s *Scope) finishLocked(u *unwinder) {
	u.finished = true
	s.state = closed
	s.closer = 0
	s.failed = u.failed
	if s.done != nil {
		close(s.done)
	}
	s.noteLocked()
	s.unwatchLocked()
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
