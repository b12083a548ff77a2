package service_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/examples/service"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestServiceExample(t *testing.T) {
	var out strings.Builder
	require.NoError(t, service.Main(&out))
	got := out.String()
	t.Log("\n" + got)
	assert.Contains(t, got, "readiness answered 503 Service Unavailable while draining")
	assert.Contains(t, got, `the in-flight request got "slow done"`)
	assert.Contains(t, got, "stopped in reverse order: http, audit, files, backend-pool")
	assert.Contains(t, got, "backend connections live after stop: 0")
	assert.Contains(t, got, "names service.(*app).hold as the holder of a connection")
	assert.Contains(t, got, "audit: 41 records written in the background", "the shutdown waited for the audit writes")
}

// The running service's /debug/pprof/reclaim.leases lists the lease that a
// request holds, with the handler that acquired it, and drops it once the
// request ends.
func TestServiceListsTheLeaseARequestHoldsInPprof(t *testing.T) {
	var out strings.Builder
	require.NoError(t, service.Run(&out, func(base string) error {
		profile := func() string {
			resp, err := http.Get(base + "/debug/pprof/reclaim.leases?debug=1")
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return string(b)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done, err := service.Hold(ctx, base)
		require.NoError(t, err)
		held := profile()
		assert.Contains(t, held, "reclaim.leases profile: total 1\n")
		assert.Contains(t, held, "service.(*app).hold")
		assert.Contains(t, held, "service.go:", "the line that acquired it")
		cancel()
		done()
		assert.Eventually(t, func() bool {
			return strings.Contains(profile(), "reclaim.leases profile: total 0\n")
		}, 5*time.Second, 5*time.Millisecond, "the lease leaves the profile once released")
		http.DefaultClient.CloseIdleConnections()
		return nil
	}))
}
