package httpclient_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/examples/httpclient"
	"github.com/reclaim-go/reclaim/internal/fds"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestHTTPClientExample(t *testing.T) {
	before, err := fds.Count()
	require.NoError(t, err)
	var out strings.Builder
	require.NoError(t, httpclient.Main(&out))
	got := out.String()
	t.Log("\n" + got)
	assert.Contains(t, got, "203 URLs: 201 fetched")
	assert.Contains(t, got, "/busy-for-a-second: waited 1s as its Retry-After asked, then fetched")
	assert.Contains(t, got, "/busy-for-a-minute: gave up after 1 attempt(s), without waiting: the Retry-After would pass the deadline (a 504: errors.Is(err, context.DeadlineExceeded) is true)")
	assert.Contains(t, got, "/missing: not retried after 1 attempt(s): GET http://")
	assert.Contains(t, got, "response bodies: ")
	assert.Contains(t, got, " 0 live after CloseIdleConnections")
	assert.NotContains(t, got, "retried: 0 503s")
	assert.NotContains(t, got, ", 0 timeouts")
	assert.Equal(t, before, settledFDs(t, before), "open file descriptors")
}

// settledFDs counts the open descriptors once they are want, or after 2 s:
// the Transport closes a reset connection's descriptor in its own
// goroutine, a moment after the request failed.
func settledFDs(t *testing.T, want int) int {
	deadline := time.Now().Add(2 * time.Second)
	for {
		n, err := fds.Count()
		require.NoError(t, err)
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
