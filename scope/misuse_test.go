package scope_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/scope"
)

// Item 11: CloseInto(nil) during a panic keeps the panic and runs every
// cleanup, as failed.
func TestCloseIntoNilDuringAPanicKeepsThePanicAndRunsTheCleanups(t *testing.T) {
	var r recorder
	boom := errors.New("boom")
	var got any
	func() {
		defer func() { got = recover() }()
		func() {
			var s scope.Scope
			defer s.CloseInto(nil)
			s.OnFailure(r.ok("rollback"))
			s.Defer(r.ok("close"))
			panic(boom)
		}()
	}()
	assert.Same(t, boom, got)
	assert.Equal(t, []string{"close", "rollback"}, r.log())
}

// Without a panic, it runs the cleanups and panics with an error that names
// the mistake and carries their errors.
func TestCloseIntoNilPanicsNamingTheMistakeAndKeepsTheErrors(t *testing.T) {
	var r recorder
	e := errors.New("flush")
	var s scope.Scope
	s.Defer(r.fail("close", e))
	var got any
	func() {
		defer func() { got = recover() }()
		s.CloseInto(nil)
	}()
	err, ok := got.(error)
	require.True(t, ok, "panics with an error, got %v", got)
	assert.Contains(t, err.Error(), "scope: CloseInto called with a nil error pointer")
	assert.ErrorIs(t, err, e)
	assert.Equal(t, []string{"close"}, r.log())
	assert.NoError(t, s.Close())
}

// Item 12: Run takes the options New takes.
func TestRunTakesOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &hungServer{release: make(chan struct{})}
		e := errors.New("close")
		start := time.Now()
		err := scope.Run(context.Background(), func(ctx context.Context, s *scope.Scope) error {
			s.Defer(func() error { return e })
			s.DeferContext(srv.Shutdown)
			return nil
		}, scope.CleanupTimeout(time.Second), scope.RecordSites(true))
		assert.Equal(t, time.Second, time.Since(start))
		assert.ErrorIs(t, err, scope.ErrCleanupTimeout)
		var ce *scope.CleanupError
		require.ErrorAs(t, err, &ce)
		assert.NotEmpty(t, ce.Site, "sites are recorded")
		assert.ErrorIs(t, err, e)
		close(srv.release)
	})
}
