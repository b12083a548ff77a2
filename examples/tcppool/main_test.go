package tcppool_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/examples/tcppool"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestTCPPoolExample(t *testing.T) {
	var out strings.Builder
	require.NoError(t, tcppool.Main(&out))
	got := out.String()
	t.Log("\n" + got)
	assert.Contains(t, got, "acquires 800")
	assert.Contains(t, got, "handshakes refused and closed by the attempt's Scope: 3")
	assert.Contains(t, got, "after pool.Close: 0 live on the server")
}
