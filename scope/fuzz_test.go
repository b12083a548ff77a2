package scope_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/scope"
)

// The fuzz target drives a Scope through random registrations, handle runs
// and cancels, releases, failing and panicking cleanups and closes, and
// checks it against a model: every cleanup runs exactly once unless it was
// cancelled, released or (failure-only) skipped by a successful close; the
// run order is newest first; the errors returned are exactly the failing
// cleanups', in run order; a panicking cleanup's value is raised once all ran.

type fuzzEntry struct {
	id       int
	failOnly bool
	fails    bool
	panics   bool
	handle   scope.Handle
}

type fuzzModel struct {
	t       *testing.T
	s       *scope.Scope
	pending []*fuzzEntry // oldest first, mirrors s
	runs    map[int]int
	order   []int
	closed  bool
	failed  bool // the scope closed as failed
	nextID  int
}

func (m *fuzzModel) cleanup(e *fuzzEntry) func() error {
	return func() error {
		m.runs[e.id]++
		m.order = append(m.order, e.id)
		if e.panics {
			panic(e.id)
		}
		if e.fails {
			return fuzzErr(e.id)
		}
		return nil
	}
}

type fuzzErr int

func (e fuzzErr) Error() string { return fmt.Sprintf("cleanup %d failed", int(e)) }

// expectClose computes what closing the modelled entries must do.
func expectClose(pending []*fuzzEntry, failed bool) (order []int, errs []error, panicVal any) {
	for i := len(pending) - 1; i >= 0; i-- {
		e := pending[i]
		if e.failOnly && !failed {
			continue
		}
		order = append(order, e.id)
		if e.panics {
			panicVal = e.id // the latest panic wins, as with defer
			failed = true
		} else if e.fails {
			errs = append(errs, fuzzErr(e.id))
			failed = true
		}
	}
	return order, errs, panicVal
}

func (m *fuzzModel) closeAndCheck(s *scope.Scope, pending []*fuzzEntry, asFailed bool) {
	wantOrder, wantErrs, wantPanic := expectClose(pending, asFailed)
	m.order = m.order[:0]
	var err error
	var got any
	func() {
		defer func() { got = recover() }()
		if asFailed {
			err = errors.New("body")
			s.CloseInto(&err)
		} else {
			err = s.Close()
		}
	}()
	if got != wantPanic {
		m.t.Fatalf("close panicked with %v, want %v", got, wantPanic)
	}
	if !slices.Equal(m.order, wantOrder) {
		m.t.Fatalf("run order %v, want %v", m.order, wantOrder)
	}
	if wantPanic != nil {
		return // the error is lost with the panic, as for any panicking function
	}
	gotErrs := multierr.Errors(err)
	if asFailed {
		if len(gotErrs) == 0 || gotErrs[0].Error() != "body" {
			m.t.Fatalf("CloseInto lost the body's error: %v", err)
		}
		gotErrs = gotErrs[1:]
	}
	if !slices.Equal(gotErrs, wantErrs) {
		m.t.Fatalf("errors %v, want %v", gotErrs, wantErrs)
	}
}

func FuzzScope(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 8, 9})
	f.Add([]byte{0, 0, 4, 0, 5, 16, 3, 7})
	f.Add([]byte{1, 3, 0, 2, 6, 0, 1, 9, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 21, 5, 14, 8})
	f.Fuzz(func(t *testing.T, ops []byte) {
		m := &fuzzModel{t: t, s: new(scope.Scope), runs: map[int]int{}}
		var released []struct {
			s       *scope.Scope
			pending []*fuzzEntry
		}
		cancelled := map[int]bool{}
		for i := 0; i < len(ops); i++ {
			op := ops[i]
			arg := 0
			if i+1 < len(ops) {
				arg = int(ops[i+1])
			}
			switch op % 10 {
			case 0, 1, 2, 3: // register; 1 fails, 2 panics, 3 is failure-only
				m.nextID++
				e := &fuzzEntry{id: m.nextID, fails: op%10 == 1, panics: op%10 == 2, failOnly: op%10 == 3}
				fn := m.cleanup(e)
				if m.closed {
					// runs at once (failure-only: only after a failed close)
					runs := !e.failOnly || m.failed
					var got any
					func() {
						defer func() { got = recover() }()
						if e.failOnly {
							e.handle = m.s.OnFailure(fn)
						} else {
							e.handle = m.s.Defer(fn)
						}
					}()
					if runs != (m.runs[e.id] == 1) {
						t.Fatalf("late cleanup %d ran %d times", e.id, m.runs[e.id])
					}
					if runs && e.panics != (got == e.id) {
						t.Fatalf("late cleanup panic %v", got)
					}
					if runs && e.fails && !errors.Is(e.handle.Run(), fuzzErr(e.id)) {
						t.Fatalf("late cleanup %d error lost", e.id)
					}
					continue
				}
				if e.failOnly {
					e.handle = m.s.OnFailure(fn)
				} else {
					e.handle = m.s.Defer(fn)
				}
				m.pending = append(m.pending, e)
			case 4, 5: // run (4) or cancel (5) a pending entry through its handle
				if len(m.pending) == 0 {
					continue
				}
				i++
				k := arg % len(m.pending)
				e := m.pending[k]
				m.pending = slices.Delete(m.pending, k, k+1)
				if op%10 == 5 {
					if !e.handle.Cancel() {
						t.Fatalf("cancel of pending %d failed", e.id)
					}
					cancelled[e.id] = true
					continue
				}
				var err error
				var got any
				func() {
					defer func() { got = recover() }()
					err = e.handle.Run()
				}()
				if m.runs[e.id] != 1 || (e.panics && got != e.id) || (e.fails && !errors.Is(err, fuzzErr(e.id))) {
					t.Fatalf("handle run of %d: runs %d, err %v, panic %v", e.id, m.runs[e.id], err, got)
				}
				if e.handle.Cancel() || e.handle.Run() != nil {
					t.Fatalf("handle of %d still controls its entry", e.id)
				}
			case 6: // release into a new scope, closed at the end
				if m.closed {
					continue
				}
				released = append(released, struct {
					s       *scope.Scope
					pending []*fuzzEntry
				}{m.s.Release(), m.pending})
				m.pending = nil
			case 7, 8: // close as succeeded (7) or failed (8)
				asFailed := op%10 == 8
				if m.closed {
					m.order = m.order[:0]
					if err := m.s.Close(); err != nil || len(m.order) != 0 {
						t.Fatalf("second close ran %v, returned %v", m.order, err)
					}
					continue
				}
				_, errs, p := expectClose(m.pending, asFailed)
				m.closeAndCheck(m.s, m.pending, asFailed)
				m.failed = asFailed || len(errs) > 0 || p != nil
				m.pending, m.closed = nil, true
			case 9: // Len agrees with the model
				if m.s.Len() != len(m.pending) {
					t.Fatalf("Len %d, want %d", m.s.Len(), len(m.pending))
				}
			}
		}
		if !m.closed {
			m.closeAndCheck(m.s, m.pending, false)
		}
		for _, r := range released {
			m.closeAndCheck(r.s, r.pending, false)
		}
		for id, n := range m.runs {
			if n != 1 {
				t.Fatalf("cleanup %d ran %d times", id, n)
			}
			if cancelled[id] {
				t.Fatalf("cancelled cleanup %d ran", id)
			}
		}
	})
}
