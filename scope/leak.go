package scope

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/reclaim-go/reclaim/internal/stack"
)

// Leak describes a Scope that became unreachable while it still held
// cleanups: the resources behind them were never released.
type Leak struct {
	// Pending is the number of cleanups that never ran.
	Pending int
	// Created is the stack of the goroutine that made the Scope.
	Created string
}

// String formats the leak as a report of several lines.
func (l Leak) String() string {
	return fmt.Sprintf("scope: leaked Scope with %d pending cleanup(s), created at:\n%s", l.Pending, l.Created)
}

// leakRecord is what the runtime cleanup of a watched Scope sees. It must not
// point to the Scope, or the Scope would never become unreachable.
type leakRecord struct {
	pending atomic.Int64
	created stack.Trace
	report  func(Leak)
}

var sampled atomic.Uint64

// watch arranges for s to be reported if it is collected while holding
// cleanups. It is called only for heap-allocated scopes (New, Release):
// runtime.AddCleanup needs one, and a zero Scope on the stack is the case
// that must stay free.
func (s *Scope) watch(skip int) {
	o := s.opts
	if o == nil || o.leaks == LeaksOff {
		return
	}
	if o.leaks == LeaksSampled && sampled.Add(1)%LeakSampleRate != 1 {
		return
	}
	rec := &leakRecord{created: stack.Capture(skip + 1), report: o.onLeak}
	s.leak = rec
	runtime.AddCleanup(s, reportLeak, rec)
}

func reportLeak(rec *leakRecord) {
	n := rec.pending.Load()
	if n <= 0 {
		return
	}
	l := Leak{Pending: int(n), Created: rec.created.String()}
	if rec.report != nil {
		rec.report(l)
		return
	}
	fmt.Fprintln(os.Stderr, l)
}

// noteLocked publishes the number of pending cleanups to the leak record.
// Caller must hold s.mu (or own s exclusively).
func (s *Scope) noteLocked() {
	if s.leak != nil {
		s.leak.pending.Store(int64(s.n))
	}
}
