package service_test

import (
	"strings"
	"testing"

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
	assert.Contains(t, got, "audit: 41 records written in the background", "the shutdown waited for the audit writes")
}
