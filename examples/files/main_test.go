package files_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/examples/files"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestFilesExample(t *testing.T) {
	var out strings.Builder
	require.NoError(t, files.Main(&out))
	assert.Contains(t, out.String(), "converted 200 files: 100 failed on purpose, 100 outputs kept, 100 half-written outputs removed")
	assert.Contains(t, out.String(), "read 100 lines from the kept outputs")
}
