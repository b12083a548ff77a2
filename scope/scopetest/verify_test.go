package scopetest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/pool/handles"
	"github.com/reclaim-go/reclaim/scope"
)

// childEnv names the leak a re-executed test binary commits on purpose in
// TestLeakChild; the package's TestMain, scopetest.VerifyTestMain, must
// then fail the run and say what leaked and where.
const childEnv = "SCOPETEST_LEAK_CHILD"

// leakers are the leaks a child commits, by name. Each leaks from a line
// that contains "LEAK HERE", which the report must name.
var leakers = map[string]func(t *testing.T){
	"none": func(t *testing.T) {
		// Every kind is used and given back.
		s := scope.New()
		f, err := os.CreateTemp(t.TempDir(), "scopetest-clean")
		require.NoError(t, err)
		s.DeferClose(f)
		p := newPool(t)
		l, err := p.Acquire(t.Context())
		require.NoError(t, err)
		s.DeferFunc(l.Release)
		c := newCache(t)
		r, err := c.Get(t.Context(), "a")
		require.NoError(t, err)
		s.Defer(r.Close)
		done := make(chan struct{})
		go func() { <-done }()
		s.DeferFunc(func() { close(done) })
		require.NoError(t, s.Close())
	},
	"goroutine": func(t *testing.T) {
		block := make(chan struct{})
		go func() { <-block }() // LEAK HERE goroutine
	},
	"fd": func(t *testing.T) {
		f, err := os.CreateTemp("", "scopetest-leak") // LEAK HERE fd
		require.NoError(t, err)
		t.Cleanup(func() { os.Remove(f.Name()) })
		leakedFiles = append(leakedFiles, f)
	},
	"scope": func(t *testing.T) {
		func() {
			s := scope.New() // LEAK HERE scope
			s.DeferFunc(func() {})
		}()
	},
	"lease dropped": func(t *testing.T) {
		p := newPool(t)
		func() {
			_, err := p.Acquire(t.Context()) // LEAK HERE lease dropped
			require.NoError(t, err)
		}()
		// The pool finds the lease dropped once it is collected: wait
		// for it, so that the pool closes.
		require.Eventually(t, func() bool { runtime.GC(); return p.Stats().LeasesDropped == 1 }, 5*time.Second, time.Millisecond)
	},
	"lease held": func(t *testing.T) {
		p := newPool(t)
		l, err := p.Acquire(t.Context()) // LEAK HERE lease held
		require.NoError(t, err)
		heldLeases = append(heldLeases, l)
	},
	"ref dropped": func(t *testing.T) {
		c := newCache(t)
		func() {
			_, err := c.Get(t.Context(), "a") // LEAK HERE ref dropped
			require.NoError(t, err)
		}()
	},
	"ref held": func(t *testing.T) {
		c := newCache(t)
		r, err := c.Get(t.Context(), "a") // LEAK HERE ref held
		require.NoError(t, err)
		heldRefs = append(heldRefs, r)
	},
}

// Kept reachable, so that nothing closes them or finds them dropped.
var (
	leakedFiles []*os.File
	heldLeases  []pool.Lease[*resource]
	heldRefs    []handles.Ref[string, *resource]
)

type resource struct{}

func (*resource) Close() error { return nil }

func newPool(t *testing.T) *pool.Pool[*resource] {
	p, err := pool.New(pool.Config[*resource]{
		MaxSize: 2,
		Open:    func(context.Context) (*resource, error) { return &resource{}, nil },
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		// A lease held on purpose keeps Close waiting: give up at once.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func newCache(t *testing.T) *handles.Cache[string, *resource] {
	c, err := handles.New(handles.Config[string, *resource]{
		Open: func(context.Context, string) (*resource, error) { return &resource{}, nil },
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// leakLine returns "file:N", N being the line of a test file of this
// package marked LEAK HERE for kind.
func leakLine(t *testing.T, kind string) string {
	t.Helper()
	for _, file := range []string{"verify_test.go", "checkleaks_test.go"} {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		for i, line := range strings.Split(string(src), "\n") {
			if strings.HasSuffix(line, "// LEAK HERE "+kind) {
				return fmt.Sprintf("%s:%d", file, i+1)
			}
		}
	}
	t.Fatalf("no line marked for %s", kind)
	return ""
}

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
		"goroutine":     "found unexpected goroutines",
		"fd":            "file descriptors opened during the tests are still open",
		"scope":         "1× Scope dropped without being given back: 1 pending cleanup(s), created at:",
		"lease dropped": "1× pool lease (pool.Pool[*scopetest_test.resource]) dropped without being given back: never released",
		"lease held":    "1× pool lease (pool.Pool[*scopetest_test.resource]) still held, created at:",
		"ref dropped":   "1× handles reference (handles.Cache key a) dropped without being given back: never closed",
		"ref held":      "1× handles reference (handles.Cache key a) still held, created at:",
	} {
		t.Run("a leaked "+kind+" fails the run", func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			out, err := runChild(t, kind)
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, out)
			assert.Equal(t, 1, exit.ExitCode())
			assert.Contains(t, out, want)
			if kind == "fd" {
				assert.Contains(t, out, "scopetest-leak", "the report names the file")
			} else {
				assert.Contains(t, out, leakLine(t, kind), "the report names the line")
			}
			t.Logf("child took %v", time.Since(start).Round(time.Millisecond))
		})
	}
}
