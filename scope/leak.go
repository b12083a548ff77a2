package scope

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/reclaim-go/reclaim/internal/track"
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
	entry   *track.Entry // in the registry (reclaim.scopes) until closed or collected
	report  func(Leak)
}

// watch arranges for s to be reported if it is collected while holding
// cleanups, and lists it in the registry of live resources while it is
// open. It is called only for heap-allocated scopes (New, Release):
// runtime.AddCleanup needs one, and a zero Scope on the stack is the case
// that must stay free. Unwatched, it costs one atomic load.
func (s *Scope) watch(skip int) {
	o := s.opts
	if o == nil { // released from a zero Scope, which is never watched
		return
	}
	l := track.Current()
	if o.leaksSet {
		l = track.Level(o.leaks)
	}
	if l == track.Off {
		return
	}
	e := track.Scopes.TrackOwn(l, "", skip+1)
	if e == nil {
		return
	}
	rec := &leakRecord{entry: e, report: o.onLeak}
	s.leak = rec
	runtime.AddCleanup(s, reportLeak, rec)
}

// reportLeak runs when a watched Scope was collected. One dropped with
// cleanups pending goes to its OnLeak function if it has one, which then
// owns the report; otherwise it is recorded in the registry, for
// scopetest.VerifyTestMain, and printed to standard error.
func reportLeak(rec *leakRecord) {
	n := rec.pending.Load()
	if n <= 0 {
		rec.entry.Done()
		return
	}
	l := Leak{Pending: int(n), Created: rec.entry.Trace().String()}
	if rec.report != nil {
		rec.entry.Done()
		rec.report(l)
		return
	}
	if _, ok := rec.entry.Dropped(fmt.Sprintf("%d pending cleanup(s)", n)); ok {
		fmt.Fprintln(os.Stderr, l)
	}
}

// unwatchLocked ends the registry entry of a Scope that has closed.
// Caller must hold s.mu.
func (s *Scope) unwatchLocked() {
	if s.leak != nil {
		s.leak.entry.Done()
	}
}

// noteLocked publishes the number of pending cleanups to the leak record.
// Caller must hold s.mu (or own s exclusively).
func (s *Scope) noteLocked() {
	if s.leak != nil {
		s.leak.pending.Store(int64(s.n))
	}
}
