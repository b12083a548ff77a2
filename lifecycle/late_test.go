package lifecycle_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/logtest"
	"github.com/reclaim-go/reclaim/lifecycle"
)

// Found by the soak (internal/soak): a start hook abandoned at its timeout
// that returned an error later had that error dropped, with no Logger: the
// rollback waited for it and reported nothing of it.
func TestLateStartErrorIsInTheStopsResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.StartTimeout(time.Second))
		late := comp(&ev, "late")
		gaveUp := errors.New("gave up")
		late.Start = func(context.Context) error {
			time.Sleep(3 * time.Second) // deaf to its context, but finite
			return gaveUp
		}
		addAll(t, g, comp(&ev, "db"), late)
		err := g.Start(context.Background())
		require.ErrorIs(t, err, gaveUp, "the rollback waited for the hook, and reports what it returned")
		assert.ErrorIs(t, g.Stop(context.Background()), gaveUp)
	})
}

// An abandoned start hook that returns an error after the stop has
// returned has no result left to join: it goes to slog.Default when the
// group has no Logger, rather than nowhere.
func TestLateStartErrorAfterTheStopIsLogged(t *testing.T) {
	logs := logtest.Default(t)
	synctest.Test(t, func(t *testing.T) {
		var ev events
		g := lifecycle.New(lifecycle.StartTimeout(time.Second), lifecycle.StopTimeout(time.Second))
		late := comp(&ev, "late")
		release := make(chan struct{})
		late.Start = func(context.Context) error {
			<-release // deaf to its context until released
			return errors.New("gave up at last")
		}
		addAll(t, g, comp(&ev, "db"), late)
		require.Error(t, g.Start(context.Background()))
		require.Error(t, g.Stop(context.Background()))
		close(release)
		synctest.Wait()
		assert.Contains(t, logs.String(), "gave up at last")
		assert.Contains(t, logs.String(), "abandoned start hook returned late")
	})
}
