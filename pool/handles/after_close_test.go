package handles_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/logtest"
	"github.com/reclaim-go/reclaim/pool/handles"
)

type lateHandle struct{ _ int }

// Found by the soak (internal/soak): an Open that finished after
// Cache.Close had given up waiting for it was closed at once, and the
// error of that Close was dropped.
func TestCacheErrorOfALateOpensCloseIsNotDropped(t *testing.T) {
	logs := logtest.Default(t)

	release, opening := make(chan struct{}), make(chan struct{})
	c, err := handles.New(handles.Config[string, *lateHandle]{
		Open: func(context.Context, string) (*lateHandle, error) {
			close(opening)
			<-release // an open that ignores its context
			return &lateHandle{}, nil
		},
		Close: func(*lateHandle) error { return errors.New("flush on close failed") },
	})
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "k")
		got <- err
	}()
	<-opening
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Close(ctx), context.DeadlineExceeded, "Close gives up on the Open in flight")

	close(release) // the Open returns to a closed cache, which closes the handle
	assert.ErrorIs(t, <-got, handles.ErrClosed)
	assert.Contains(t, logs.String(), "flush on close failed", "the error went to slog.Default, not nowhere")
	assert.Contains(t, logs.String(), "handles: error after Close returned")
}
