package lifecycle_test

import (
	"os"
	"testing"

	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// A child process for the real-signal tests: run only its helper
		// test, which exits the process itself.
		os.Exit(m.Run())
	}
	scopetest.VerifyTestMain(m)
}
