package scope_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/logtest"
	"github.com/reclaim-go/reclaim/scope"
)

type hungServer struct{ release chan struct{} }

// Shutdown ignores its context, as buggy shutdown hooks do.
func (h *hungServer) Shutdown(context.Context) error { <-h.release; return nil }

func TestCleanupTimeoutAbandonsAnOverrunningCleanupAndGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r recorder
		srv := &hungServer{release: make(chan struct{})}
		s := scope.New(scope.CleanupTimeout(5 * time.Second))
		s.Defer(r.ok("older"))
		s.DeferContext(srv.Shutdown)
		start := time.Now()
		err := s.Close()
		assert.Equal(t, 5*time.Second, time.Since(start))
		assert.Equal(t, []string{"older"}, r.log(), "unwinding went on")

		require.ErrorIs(t, err, scope.ErrCleanupTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var ce *scope.CleanupError
		require.ErrorAs(t, err, &ce)
		assert.Contains(t, ce.Cleanup, "hungServer).Shutdown")
		assert.Contains(t, err.Error(), "hungServer).Shutdown")
		close(srv.release) // let the abandoned goroutine finish inside the bubble
	})
}

func TestCleanupTimeoutCancelsTheCleanupContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scope.New(scope.CleanupTimeout(time.Second))
		var deadline time.Time
		s.DeferContext(func(ctx context.Context) error {
			deadline, _ = ctx.Deadline()
			<-ctx.Done()
			return ctx.Err()
		})
		start := time.Now()
		err := s.Close()
		assert.Equal(t, start.Add(time.Second), deadline)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestCleanupTimeoutKeepsAPromptCleanupsResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := errors.New("shutdown")
		s := scope.New(scope.CleanupTimeout(time.Minute))
		s.DeferContext(func(ctx context.Context) error {
			time.Sleep(time.Second)
			return e
		})
		err := s.Close()
		assert.Same(t, e, err)
	})
}

func TestCleanupTimeoutReRaisesAPanicFromTheCleanupGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r recorder
		s := scope.New(scope.CleanupTimeout(time.Minute))
		s.Defer(r.ok("older"))
		s.DeferContext(func(context.Context) error { panic("in shutdown") })
		assert.PanicsWithValue(t, "in shutdown", func() { _ = s.Close() })
		assert.Equal(t, []string{"older"}, r.log())
	})
}

func TestCleanupTimeoutAppliesOnlyToContextCleanups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scope.New(scope.CleanupTimeout(time.Second))
		s.DeferFunc(func() { time.Sleep(time.Minute) })
		start := time.Now()
		require.NoError(t, s.Close())
		assert.Equal(t, time.Minute, time.Since(start))
	})
}

// Item 5: a cleanup is abandoned at its own effective deadline, the earlier
// of the CloseContext deadline and its CleanupTimeout.
func TestCleanupTimeoutEndsAtAnEarlierCloseContextDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r recorder
		srv := &hungServer{release: make(chan struct{})}
		s := scope.New(scope.CleanupTimeout(time.Minute))
		s.Defer(r.ok("older"))
		s.DeferContext(srv.Shutdown)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err := s.CloseContext(ctx)
		assert.Equal(t, time.Second, time.Since(start), "not the minute of CleanupTimeout")
		assert.ErrorIs(t, err, scope.ErrCleanupTimeout)
		assert.Equal(t, []string{"older"}, r.log())
		close(srv.release)
	})
}

func TestHandleRunHonoursCleanupTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &hungServer{release: make(chan struct{})}
		s := scope.New(scope.CleanupTimeout(time.Second))
		h := s.DeferContext(srv.Shutdown)
		start := time.Now()
		assert.ErrorIs(t, h.Run(), scope.ErrCleanupTimeout)
		assert.Equal(t, time.Second, time.Since(start))
		close(srv.release)
		require.NoError(t, s.Close())
	})
}

func TestCleanupRegisteredAfterCloseHonoursCleanupTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &hungServer{release: make(chan struct{})}
		s := scope.New(scope.CleanupTimeout(time.Second))
		require.NoError(t, s.Close())
		start := time.Now()
		h := s.DeferContext(srv.Shutdown)
		assert.Equal(t, time.Second, time.Since(start), "ran at registration, for one second at most")
		assert.ErrorIs(t, h.Run(), scope.ErrCleanupTimeout, "the handle reports the late run's error")
		close(srv.release)
	})
}

func TestGoexitInATimedCleanupFailsTheUnwindingAndReachesTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r recorder
		s := scope.New(scope.CleanupTimeout(time.Second))
		s.OnFailure(r.ok("rollback"))
		s.DeferContext(func(context.Context) error { runtime.Goexit(); return nil })
		assert.Equal(t, "goexit", inGoroutine(func() { _ = s.Close() }))
		assert.Equal(t, []string{"rollback"}, r.log())
	})
}

// A panic in an abandoned cleanup is reported once the cleanup gets to it,
// with the stack that panicked, and so is a late error; neither is raised,
// since whether a cleanup is abandoned can depend on scheduling. (Found by
// the soak, internal/soak: under load, a prompt panic in a cleanup started
// after its deadline crashed the whole program.)
func TestPanicInAnAbandonedCleanupIsReported(t *testing.T) {
	logs := logtest.Default(t)

	release, ended := make(chan struct{}), make(chan struct{}, 2)
	s := scope.New(scope.CleanupTimeout(10 * time.Millisecond))
	s.DeferContext(func(context.Context) error {
		defer func() { ended <- struct{}{} }()
		<-release
		panic("late bug")
	})
	s.DeferContext(func(context.Context) error {
		defer func() { ended <- struct{}{} }()
		<-release
		return errors.New("late flush failed")
	})
	err := s.Close()
	assert.ErrorIs(t, err, scope.ErrCleanupTimeout)
	close(release)
	<-ended
	<-ended
	require.Eventually(t, func() bool {
		l := logs.String()
		return strings.Contains(l, "late bug") && strings.Contains(l, "late flush failed")
	}, 5*time.Second, time.Millisecond)
	assert.Contains(t, logs.String(), "abandoned by CleanupTimeout panicked")
	assert.Contains(t, logs.String(), "timeout_test.go:", "with the line that panicked")
}
