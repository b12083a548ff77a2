package lifecycle_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/lifecycle"
	"github.com/reclaim-go/reclaim/pool/handles"
)

func TestCloserClosesARealFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	g := lifecycle.New()
	require.NoError(t, g.Add(lifecycle.Closer("log", f)))
	mustStart(t, g)
	require.NoError(t, g.Stop(context.Background()))
	assert.ErrorIs(t, f.Close(), os.ErrClosed, "the group closed it")
}

func TestCloserReportsCloseErrors(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	g := lifecycle.New()
	require.NoError(t, g.Add(lifecycle.Closer("log", f)))
	mustStart(t, g)
	err = g.Stop(context.Background())
	assert.ErrorIs(t, err, os.ErrClosed)
	assert.ErrorContains(t, err, `lifecycle: component "log": stop: close `)
}

// drainingPool has the shape of pool.Pool and handles.Cache: its Close
// waits for borrowed resources until the context is done.
type drainingPool struct {
	borrowed chan struct{}
	closed   bool
}

func (p *drainingPool) Close(ctx context.Context) error {
	select {
	case <-p.borrowed:
		p.closed = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestContextCloserPassesTheStopContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &drainingPool{borrowed: make(chan struct{})}
		g := lifecycle.New()
		require.NoError(t, g.Add(lifecycle.ContextCloser("db", p)))
		mustStart(t, g)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := g.Stop(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "Close saw the stop deadline")
		var te *lifecycle.TimeoutError
		assert.False(t, errors.As(err, &te), "and returned in time: %v", err)
		assert.False(t, p.closed)
	})

	p := &drainingPool{borrowed: make(chan struct{})}
	close(p.borrowed)
	g := lifecycle.New()
	require.NoError(t, g.Add(lifecycle.ContextCloser("db", p)))
	mustStart(t, g)
	require.NoError(t, g.Stop(context.Background()))
	assert.True(t, p.closed)
}

// A handles.Cache of real files is one line to add, and Stop closes it.
func TestContextCloserTakesAHandlesCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o600))
	files, err := handles.New(handles.Config[string, *os.File]{
		Open: func(_ context.Context, name string) (*os.File, error) { return os.Open(name) },
	})
	require.NoError(t, err)

	g := lifecycle.New()
	require.NoError(t, g.Add(lifecycle.ContextCloser("files", files)))
	mustStart(t, g)
	ref, err := files.Get(context.Background(), path)
	require.NoError(t, err)
	f := ref.Value()
	require.NoError(t, ref.Close())
	require.NoError(t, g.Stop(context.Background()))

	assert.ErrorIs(t, f.Close(), os.ErrClosed, "the group's stop closed the cached file")
	_, err = files.Get(context.Background(), path)
	assert.ErrorIs(t, err, handles.ErrClosed)
}
