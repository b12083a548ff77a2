// Package locks holds a sync.Mutex and a sync.RWMutex through scopes: every
// lock is released on every path, two locks are released in the reverse
// order they were taken, and a read lock is given up early, through its
// handle, before slow work that does not need it. Its test runs under the
// race detector.
//
// Run it with `go run ./examples/tour locks`.
package locks

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/reclaim-go/reclaim/scope"
)

// ErrOverdraft is returned, with both locks still released, when a move
// would make an account negative.
var ErrOverdraft = errors.New("overdraft")

// Ledger is a set of balances guarded by an RWMutex, with a Mutex per
// account for moves between accounts.
type Ledger struct {
	mu       sync.RWMutex // guards balances
	balances map[string]int
	acct     map[string]*sync.Mutex
}

// NewLedger returns a ledger holding the given balances.
func NewLedger(balances map[string]int) *Ledger {
	l := &Ledger{balances: map[string]int{}, acct: map[string]*sync.Mutex{}}
	for name, b := range balances {
		l.balances[name] = b
		l.acct[name] = new(sync.Mutex)
	}
	return l
}

// Move moves amount from one account to another, taking the two account
// locks in name order, so that concurrent moves cannot deadlock. The scope
// releases them in reverse order, on the error path too.
func (l *Ledger) Move(from, to string, amount int) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)

	first, second := from, to
	if second < first {
		first, second = second, first
	}
	l.acct[first].Lock()
	s.DeferFunc(l.acct[first].Unlock)
	l.acct[second].Lock()
	s.DeferFunc(l.acct[second].Unlock)

	l.mu.Lock()
	s.DeferFunc(l.mu.Unlock)
	if l.balances[from] < amount {
		return fmt.Errorf("move %d from %s: %w", amount, from, ErrOverdraft)
	}
	l.balances[from] -= amount
	l.balances[to] += amount
	return nil
}

// Report writes the balances to w. It copies them under the read lock and
// releases it early, through the handle, before the slow write, so that
// writers are not held up by a slow reader; if copying failed, the scope
// would still release it.
func (l *Ledger) Report(w io.Writer) (total int, err error) {
	var s scope.Scope
	defer s.CloseInto(&err)

	l.mu.RLock()
	unlock := s.DeferFunc(l.mu.RUnlock)
	names := make([]string, 0, len(l.balances))
	snapshot := make(map[string]int, len(l.balances))
	for name, b := range l.balances {
		names = append(names, name)
		snapshot[name] = b
	}
	if err := unlock.Run(); err != nil { // release now; the rest is slow I/O
		return 0, err
	}

	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %d", name, snapshot[name])
		total += snapshot[name]
	}
	_, err = fmt.Fprintf(w, "balances: %s; total %d\n", strings.Join(parts, ", "), total)
	return total, err
}

// Main runs 8 goroutines of 500 random-looking moves each between four
// accounts, some of which overdraw on purpose, and checks that money was
// neither made nor lost.
func Main(w io.Writer) error {
	names := []string{"alice", "bob", "carol", "dave"}
	l := NewLedger(map[string]int{"alice": 100, "bob": 100, "carol": 100, "dave": 100})

	var wg sync.WaitGroup
	var mu sync.Mutex
	var moved, refused int
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				from, to := names[(g+i)%4], names[(g+3*i+1)%4]
				if from == to {
					continue
				}
				err := l.Move(from, to, (g*7+i*13)%60)
				mu.Lock()
				if errors.Is(err, ErrOverdraft) {
					refused++
				} else if err == nil {
					moved++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(w, "%d moves made, %d refused as overdrafts, every lock released on both paths\n", moved, refused)
	total, err := l.Report(w)
	if err != nil {
		return err
	}
	if total != 400 {
		return fmt.Errorf("locks: total %d, want 400", total)
	}
	return nil
}
