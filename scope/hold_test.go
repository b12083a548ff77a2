package scope_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/reclaim-go/reclaim/scope"
)

func TestHoldFailureCleanupsRunsNewerRollbacksWhenAnOlderCleanupFails(t *testing.T) {
	for _, hold := range []bool{false, true} {
		var rec recorder
		s := scope.New(scope.HoldFailureCleanups(hold))
		s.OnFailure(rec.ok("older rollback"))
		s.Defer(func() error { rec.add("flush"); return errors.New("flush failed") })
		s.OnFailure(rec.ok("newer rollback")) // reached before the flush failed
		s.Defer(rec.ok("unlock"))
		assert.Error(t, s.Close())
		if hold {
			assert.Equal(t, []string{"unlock", "flush", "older rollback", "newer rollback"}, rec.log(),
				"held until the end, then run")
		} else {
			assert.Equal(t, []string{"unlock", "flush", "older rollback"}, rec.log(),
				"by default only the older rollbacks run")
		}
	}
}

func TestHoldFailureCleanupsDropsThemOnSuccess(t *testing.T) {
	var rec recorder
	s := scope.New(scope.HoldFailureCleanups(true))
	s.OnFailure(rec.ok("rollback"))
	s.Defer(rec.ok("flush"))
	assert.NoError(t, s.Close())
	assert.Equal(t, []string{"flush"}, rec.log())
}

func TestHoldFailureCleanupsRunsThemAfterAPanicToo(t *testing.T) {
	var rec recorder
	s := scope.New(scope.HoldFailureCleanups(true))
	s.Defer(func() error { panic("flush bug") })
	s.OnFailure(rec.ok("release value"))
	assert.PanicsWithValue(t, "flush bug", func() { _ = s.Close() })
	assert.Equal(t, []string{"release value"}, rec.log())
}

func TestHoldFailureCleanupsRunsThemAfterAGoexitToo(t *testing.T) {
	var rec recorder
	s := scope.New(scope.HoldFailureCleanups(true))
	s.DeferFunc(runtime.Goexit)
	s.OnFailure(rec.ok("release value"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Close()
	}()
	<-done
	assert.Equal(t, []string{"release value"}, rec.log(), "held, then run once the Goexit failed the unwinding")
	assert.NoError(t, s.Close())
}
