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
// A batch is run in place: its chunks are taken from the Scope, and its
// inline entries, which the Scope does not use while it closes, are read
// where they are, so nothing is copied.
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

	inl int    // the batch's oldest entries are the Scope's inline[:inl]
	top *chunk // the newer ones, as in a Scope's chain; run from here down

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
	u := unwinder{ctx: ctx, failed: s.failed || failed}
	if o := s.opts; o != nil {
		u.timeout, u.hold = o.cleanupTimeout, o.holdFailures
	}
	if own != nil {
		u.pv, u.panicked, u.own = own, true, true
	}
	// errp is passed down rather than kept in u: u's contents escape with
	// the panic value, and a pointer kept there would make *errp escape too.
	// The first batch is unwindLocked's first round, written out: most
	// unwindings have no other.
	s.takeAllLocked(&u)
	s.mu.Unlock()
	u.runBatch(s, errp)
	s.mu.Lock()
	if s.n > 0 || u.failed && len(u.held) > 0 {
		s.unwindLocked(&u, errp)
	}
	if s.state != closed { // only this unwinder closes s
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
		if s.grew.Load() {
			s.grew.Store(false)
		}
		s.takeAllLocked(u)
		s.mu.Unlock()
		u.runBatch(s, errp)
		s.mu.Lock()
	}
}

// takeAllLocked takes the whole stack as the next batch of u. From now on
// registrations go to chunks, and only u touches inline[:u.inl]. (Keeping
// a count rather than a slice of it keeps a Scope on the stack from
// escaping.) Caller must hold s.mu.
func (s *Scope) takeAllLocked(u *unwinder) {
	u.inl, u.top = s.ninl, s.top
	s.ninl, s.top, s.n = 0, nil, 0
	s.noteLocked()
}

// requeueLocked puts the entries of the batch that have not run back on the
// stack beneath the ones registered since it was taken, so that the newest
// run first. Their ids are lower, so the stack stays sorted. Only links
// change: the inline entries go back to the Scope, and the batch's chunks
// go under the new ones. Caller must hold s.mu.
func (s *Scope) requeueLocked(u *unwinder) {
	k := u.inl
	for c := u.top; c != nil; c = c.prev {
		k += c.n
	}
	if u.top != nil {
		if s.top == nil {
			s.top = u.top
		} else {
			b := s.top
			for b.prev != nil {
				b = b.prev
			}
			b.prev = u.top
		}
	}
	s.ninl = u.inl
	s.n += k
	u.inl, u.top = 0, nil
	s.noteLocked()
}

// runBatch runs the taken entries, newest first, until done or until a
// cleanup registered another one: then what is left goes back to s.
func (u *unwinder) runBatch(s *Scope, errp *error) {
	u.runSome(s, errp)
	u.inl, u.top = 0, nil
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
		if s.state != closed {
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
	for {
		if s.grew.Load() {
			s.mu.Lock()
			s.grew.Store(false)
			s.requeueLocked(u)
			s.mu.Unlock()
			break
		}
		var e entry
		if c := u.top; c != nil {
			c.n--
			e = c.e[c.n]
			c.e[c.n] = entry{} // the closed scope must not keep the resource reachable
			if c.n == 0 {
				u.top = c.prev
				freeChunk(c)
			}
		} else if u.inl > 0 {
			u.inl--
			e = s.inline[u.inl]
			s.inline[u.inl] = entry{}
		} else {
			break
		}
		if e.kind() != kindAlways {
			u.runSpecial(&e)
		} else if err := e.c.Close(); err != nil {
			u.fail(annotate(&e, err))
		}
	}
	done = true
}

// runSpecial runs a context or failure-only cleanup: out of the loop, which
// is left with what most cleanups need.
func (u *unwinder) runSpecial(e *entry) {
	if e.kind() == kindFailure && !u.failed {
		if u.hold {
			u.held = append(u.held, *e)
		}
		return
	}
	var err error
	if e.kind() == kindContext && u.timeout > 0 {
		err = runWithTimeout(u.ctx, e, u.timeout)
	} else if err = call(u.ctx, e); err != nil {
		err = annotate(e, err)
	}
	if err != nil {
		u.fail(err)
	}
}

// fail records a cleanup's error: from now on the unwinding has failed.
func (u *unwinder) fail(err error) {
	u.failed = true
	u.err = multierr.Append(u.err, err)
}

func (s *Scope) finishLocked(u *unwinder) {
	s.state, s.failed = closed, u.failed // closer is read only while closing
	if s.done != nil || s.leak != nil {
		s.finishWaitersLocked()
	}
}

// finishWaitersLocked wakes the Closes waiting for this one and ends the
// Scope's leak record. Caller must hold s.mu.
func (s *Scope) finishWaitersLocked() {
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
