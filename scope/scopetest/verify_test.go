package scopetest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// childEnv names the leak a re-executed test binary commits on purpose in
// TestLeakChild; the package's TestMain, scopetest.VerifyTestMain, must
// then fail the run and say what leaked and where.
const childEnv = "SCOPETEST_LEAK_CHILD"

// leakers are the leaks a child commits, by name. Each leaks from a line
// that contains "LEAK HERE", which the report must name.
var leakers = map[string]func(t *testing.T){
	"none": func(t *testing.T) {},
	"goroutine": func(t *testing.T) {
		block := make(chan struct{})
		go func() { <-block }() // LEAK HERE
	},
	"fd": func(t *testing.T) {
		f, err := os.CreateTemp("", "scopetest-leak") // LEAK HERE
		require.NoError(t, err)
		t.Cleanup(func() { os.Remove(f.Name()) })
		leakedFiles = append(leakedFiles, f)
	},
}

var leakedFiles []*os.File // kept reachable, so that no finalizer closes them

// TestLeakChild is the body of a child process; it does nothing in a
// normal run.
func TestLeakChild(t *testing.T) {
	kind := os.Getenv(childEnv)
	if kind == "" {
		t.Skip("the child process of TestVerifyTestMain")
	}
	leakers[kind](t)
}

func runChild(t *testing.T, kind string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeakChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+kind)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestVerifyTestMain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	t.Run("a run that leaks nothing passes", func(t *testing.T) {
		out, err := runChild(t, "none")
		require.NoError(t, err, out)
		assert.NotContains(t, out, "scopetest:")
	})
	for kind, want := range map[string]string{
		"goroutine": "found unexpected goroutines",
		"fd":        "file descriptors opened during the tests are still open",
	} {
		t.Run("a leaked "+kind+" fails the run", func(t *testing.T) {
			start := time.Now()
			out, err := runChild(t, kind)
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, out)
			assert.Equal(t, 1, exit.ExitCode())
			assert.Contains(t, out, want)
			if kind == "fd" {
				assert.Contains(t, out, "scopetest-leak", "the report names the file")
			} else {
				assert.True(t, strings.Contains(out, "verify_test.go"), "the report names the line:\n%s", out)
			}
			t.Logf("child took %v", time.Since(start).Round(time.Millisecond))
		})
	}
}
