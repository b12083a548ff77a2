package sqlite_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/examples/sqlite"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestSQLiteExample(t *testing.T) {
	var out strings.Builder
	require.NoError(t, sqlite.Main(&out))
	got := out.String()
	assert.Contains(t, got, "transfer carol -> alice 500: rolled back: carol has 150: insufficient funds")
	assert.Contains(t, got, "transfer alice -> mallory 10: rolled back: constraint failed: FOREIGN KEY constraint failed (787)")
	assert.NotContains(t, got, "already been committed or rolled back", "no second error after a failed Commit")
	assert.Contains(t, got, "3 transfers committed, 2 rolled back; ledger rows: 6")
	assert.Contains(t, got, "balances: alice 70, bob 100, carol 130; total 300")
}
