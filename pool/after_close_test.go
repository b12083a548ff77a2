package pool_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/logtest"
	"github.com/reclaim-go/reclaim/pool"
)

// Found by the soak (internal/soak): an Open that outlived Close returned a
// resource whose Close failed, and with no Logger the error was kept for a
// Close that had already returned, where nobody would ever see it.
func TestPoolErrorAfterCloseReturnedGoesToTheDefaultLogger(t *testing.T) {
	logs := logtest.Default(t)
	release := make(chan struct{})
	opened := make(chan struct{})
	p, err := pool.New(pool.Config[*lateConn]{
		Open: func(context.Context) (*lateConn, error) {
			close(opened)
			<-release // a dial that ignores its context
			return &lateConn{}, nil
		},
		Close:   func(*lateConn) error { return errors.New("late close failed") },
		MaxSize: 1,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	_, err = p.Acquire(ctx)
	cancel()
	require.Error(t, err)
	<-opened
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	_ = p.Close(ctx) // gives up on the deaf Open at its deadline
	cancel()
	close(release) // the Open lands in the closed pool, which destroys it
	require.Eventually(t, func() bool { return bytes.Contains([]byte(logs.String()), []byte("late close failed")) },
		5*time.Second, time.Millisecond)
	assert.Contains(t, logs.String(), "pool: error after Close returned")
}

type lateConn struct{ _ int }

// Found by the soak (internal/soak): a lease given back while Close waited
// for it was destroyed with Close's own reason, so its Close error was
// neither kept nor returned, and Release has no error to return it with.
func TestPoolCloseReturnsTheErrorOfALeaseGivenBackWhileItWaits(t *testing.T) {
	p, err := pool.New(pool.Config[*lateConn]{
		Open:    func(context.Context) (*lateConn, error) { return &lateConn{}, nil },
		Close:   func(*lateConn) error { return errors.New("flush on close failed") },
		MaxSize: 1,
	})
	require.NoError(t, err)
	l, err := p.Acquire(context.Background())
	require.NoError(t, err)
	closed := make(chan error, 1)
	go func() { closed <- p.Close(context.Background()) }()
	require.Eventually(t, func() bool { _, e := p.Acquire(context.Background()); return errors.Is(e, pool.ErrClosed) },
		5*time.Second, time.Millisecond, "Close has begun")
	l.Release() // given back while Close waits: destroyed now
	err = <-closed
	assert.ErrorContains(t, err, "flush on close failed", "Close returns the error of the destruction it waited for")
}
