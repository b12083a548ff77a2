package migrate_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/examples/migrate"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestMigrateExample(t *testing.T) {
	var out strings.Builder
	require.NoError(t, migrate.Main(&out))
	got := out.String()
	t.Log("\n" + got)
	assert.Regexp(t, `Close error \(disk full\) reported\s+false\s+true`, got)
	assert.Regexp(t, `descriptors held at once, 50 files\s+50\s+1`, got)
	assert.Regexp(t, `connections leaked by 3 failed handshakes\s+3\s+0`, got)
	assert.Contains(t, got, "failed commit, before: sql: transaction has already been committed or rolled back")
	assert.Contains(t, got, "failed commit, after:  constraint failed: FOREIGN KEY constraint failed")
}
