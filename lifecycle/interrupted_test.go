package lifecycle_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/lifecycle"
)

// Found by the soak (internal/soak): a start hook that failed on its own
// while a Stop interrupted the start had its error dropped: Run, Stop and
// Err all returned nil, as if the hook had obeyed the stop.
func TestAStartHookThatFailsDuringAStopIsAFailure(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name    string
		start   func(ctx context.Context) error
		wantErr bool
	}{
		{"fails with its own error when stopped", func(ctx context.Context) error { <-ctx.Done(); return boom }, true},
		{"obeys the stop", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, false},
		{"obeys, wrapping its context's error", func(ctx context.Context) error {
			<-ctx.Done()
			return errors.Join(errors.New("dial aborted"), ctx.Err())
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Run watches signals, which a synctest bubble cannot: the hook
			// says when it runs, and the Stop comes then.
			entered := make(chan struct{})
			g := lifecycle.New()
			require.NoError(t, g.Add(lifecycle.Component{Name: "db", Start: func(ctx context.Context) error {
				close(entered)
				return c.start(ctx)
			}}))
			done := make(chan error, 1)
			go func() { done <- g.Run(context.Background()) }()
			<-entered
			stopErr := g.Stop(context.Background())
			runErr := <-done
			if c.wantErr {
				assert.ErrorIs(t, runErr, boom)
				assert.ErrorIs(t, stopErr, boom)
				assert.ErrorIs(t, g.Err(), boom)
			} else {
				assert.NoError(t, runErr)
				assert.NoError(t, stopErr)
				assert.NoError(t, g.Err())
			}
		})
	}
}
