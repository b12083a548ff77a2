package scope_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/reclaim-go/reclaim/scope"
)

// Found by the soak (internal/soak): under CleanupTimeout, a cleanup reached
// after CloseContext's deadline had passed was abandoned before it ran, so
// its prompt panic crashed the program instead of reaching Close's caller,
// and its prompt error was replaced by a timeout.
func TestTimedCleanupReachedAfterTheDeadlineStillEndsInTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scope.New(scope.CleanupTimeout(time.Second))
		s.DeferContext(func(ctx context.Context) error {
			panic("prompt panic") // reached after the deadline
		})
		s.DeferContext(func(ctx context.Context) error {
			<-ctx.Done() // uses up the whole CloseContext budget
			return ctx.Err()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		assert.PanicsWithValue(t, "prompt panic", func() { _ = s.CloseContext(ctx) },
			"the panic reaches the caller, it does not crash the program")
		assert.NoError(t, s.Close())
	})
}

func TestTimedCleanupReachedAfterTheDeadlineReturnsItsOwnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scope.New(scope.CleanupTimeout(time.Second))
		flush := errors.New("flush failed")
		s.DeferContext(func(ctx context.Context) error { return flush })
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		err := s.CloseContext(ctx)
		assert.ErrorIs(t, err, flush, "its own error, not a timeout")
		assert.NotErrorIs(t, err, scope.ErrCleanupTimeout)
	})
}
