package lock_test

import (
	"sync"
	"testing"

	"github.com/reclaim-go/reclaim/internal/lock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMutexExcludesUnderContention(t *testing.T) {
	var (
		mu      lock.Mutex
		counter int
		wg      sync.WaitGroup
	)
	const goroutines, rounds = 16, 2000
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				mu.Lock()
				counter++ // the race detector flags this if exclusion fails
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, goroutines*rounds, counter)
}

func TestMutexHandsOverToParkedWaiter(t *testing.T) {
	var mu lock.Mutex
	mu.Lock()
	got := make(chan struct{})
	go func() {
		mu.Lock() // parks: the holder keeps the lock well past the spinning phase
		close(got)
		mu.Unlock()
	}()
	for range 100 {
		select {
		case <-got:
			t.Fatal("waiter took a held lock")
		default:
		}
	}
	mu.Unlock()
	<-got
}

func TestUnlockOfUnlockedMutexPanics(t *testing.T) {
	var mu lock.Mutex
	require.PanicsWithValue(t, "lock: Unlock of unlocked Mutex", mu.Unlock)
}

func TestMutexOnStackDoesNotAllocate(t *testing.T) {
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		var mu lock.Mutex
		mu.Lock()
		n++
		mu.Unlock()
	})
	assert.Equal(t, 101, n)
	assert.Zero(t, allocs)
}
