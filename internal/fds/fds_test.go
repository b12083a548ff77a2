package fds_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/fds"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestCountSeesOpenAndClose(t *testing.T) {
	before, err := fds.Count()
	require.NoError(t, err)
	f, err := os.CreateTemp(t.TempDir(), "fd")
	require.NoError(t, err)
	during, err := fds.Count()
	require.NoError(t, err)
	assert.Equal(t, before+1, during)
	require.NoError(t, f.Close())
	after, err := fds.Count()
	require.NoError(t, err)
	assert.Equal(t, before, after)
}
