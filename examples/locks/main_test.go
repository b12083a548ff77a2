package locks_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/examples/locks"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

// TestLocksExample is meant for `go test -race`, as CI runs it: a lock the
// scope failed to hold or release shows up as a race or a deadlock.
func TestLocksExample(t *testing.T) {
	t.Logf("race detector on: %v", raceEnabled)
	var out strings.Builder
	require.NoError(t, locks.Main(&out))
	assert.Contains(t, out.String(), "refused as overdrafts")
	assert.Contains(t, out.String(), "total 400")
}

func TestLocksAreReleasedOnTheErrorPath(t *testing.T) {
	l := locks.NewLedger(map[string]int{"a": 1, "b": 0})
	require.ErrorIs(t, l.Move("b", "a", 5), locks.ErrOverdraft)
	// Would deadlock if Move had kept any lock.
	require.NoError(t, l.Move("a", "b", 1))
	var out strings.Builder
	total, err := l.Report(&out)
	require.NoError(t, err)
	assert.Equal(t, 1, total)
}

type slowWriter struct {
	l       *locks.Ledger
	blocked chan error
}

// Write runs while Report is writing: a Move succeeds only if the read lock
// was already released.
func (w slowWriter) Write(p []byte) (int, error) {
	done := make(chan error)
	go func() { done <- w.l.Move("a", "b", 1) }()
	select {
	case err := <-done:
		w.blocked <- err
	case <-time.After(5 * time.Second): // only on failure
		w.blocked <- errors.New("Move blocked: Report still holds the read lock")
		<-done
	}
	return len(p), nil
}

func TestReportReleasesTheReadLockBeforeWriting(t *testing.T) {
	l := locks.NewLedger(map[string]int{"a": 5, "b": 0})
	w := slowWriter{l: l, blocked: make(chan error, 1)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = l.Report(w) }()
	wg.Wait()
	require.NoError(t, <-w.blocked)
}
