package lifecycle_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/lifecycle"
)

func TestRunningGoroutinesShowInTheReclaimGoroutinesProfile(t *testing.T) {
	g := lifecycle.New()
	require.NoError(t, g.Go("profiled-worker", func(ctx context.Context) error { <-ctx.Done(); return nil })) // the Go call
	require.NoError(t, g.Start(t.Context()))
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup("reclaim.goroutines").WriteTo(&buf, 1))
	assert.Contains(t, buf.String(), "profile_test.go", "the profile names where the goroutine was asked for")
	require.NoError(t, g.Stop(t.Context()))
	buf.Reset()
	require.NoError(t, pprof.Lookup("reclaim.goroutines").WriteTo(&buf, 1))
	assert.NotContains(t, buf.String(), "TestRunningGoroutinesShowInTheReclaimGoroutinesProfile", "a returned goroutine leaves the profile")
}
