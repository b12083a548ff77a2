package scope_test

import (
	"os"
	"testing"

	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) {
	if os.Getenv("SCOPE_TEST_LEAK_CHILD") != "" {
		// The child of TestLeakEnvironmentVariable leaks on purpose.
		os.Exit(m.Run())
	}
	scopetest.VerifyTestMain(m)
}
