package lifecycle_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/lifecycle"
)

// The real-signal tests run the test binary again as a child process that
// serves HTTP on 127.0.0.1 inside a Group under Run, send it real signals
// with kill(2), and check from outside what a load balancer and an
// orchestrator would see.

// childEnv, when set, makes the test binary a child for these tests; its
// value is the child's mode.
const childEnv = "LIFECYCLE_TEST_CHILD"

// The child's timing: long enough to observe from outside, short enough
// for a fast test.
const (
	childDrain = 500 * time.Millisecond
	childGrace = 5 * time.Second
	// childWork is how long /slow still works once the drain began: past
	// the drain, so that the listener closes while it is in flight.
	childWork = childDrain + 300*time.Millisecond
)

// Exit codes of the child.
const (
	exitClean     = 0 // stopped by a signal, every component stopped cleanly
	exitErrors    = 1 // stopped, with errors
	exitAbandoned = 2 // Run returned without waiting for the stop
)

// TestSignalChild is the child process. It is skipped in a normal run.
func TestSignalChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("the child process of TestRealSignals")
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	g := lifecycle.New(lifecycle.Logger(logger), lifecycle.DrainDelay(childDrain), lifecycle.GracePeriod(childGrace))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", g.Readiness())
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // the client knows the request is in flight
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for g.Ready() {
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
		select {
		case <-time.After(childWork):
			_, _ = io.WriteString(w, "done")
		case <-r.Context().Done(): // the connection was closed under us
		}
	})
	mux.HandleFunc("GET /stop", func(http.ResponseWriter, *http.Request) {
		// A handler must not wait for the stop: it would wait for itself.
		go func() { _ = g.Stop(context.Background()) }()
	})
	must := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
	must(g.Add(lifecycle.Component{Name: "db", Stop: func(context.Context) error { return nil }}))
	must(g.Add(lifecycle.Component{Name: "cache", Stop: func(context.Context) error { return nil }}))
	switch mode {
	case "stuck":
		must(g.Add(lifecycle.Component{Name: "stuck", Stop: stuckStop}))
	case "slowstart": // SIGTERM comes before the server starts
		must(g.Add(lifecycle.Component{Name: "migrations", Start: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}}))
	}
	must(g.Add(lifecycle.HTTPServer("http", &http.Server{Handler: mux}, ln)))
	fmt.Printf("addr=%s\n", ln.Addr())

	// What a service's main does: exit 1 on any error.
	err = g.Run(context.Background())
	logger.Info("run returned", "err", err, "cause", g.Cause())
	if mode == "slowstart" {
		// Live on, so that the parent sees what Run left open.
		_, _ = io.Copy(io.Discard, os.Stdin)
	}
	switch {
	case err == nil:
		os.Exit(exitClean)
	case strings.Contains(err.Error(), "stop abandoned"):
		os.Exit(exitAbandoned)
	default:
		os.Exit(exitErrors)
	}
}

// stuckStop is a stop hook deaf to its context, which only the third
// signal gets past.
func stuckStop(context.Context) error {
	fmt.Fprintln(os.Stderr, "stuck stop running") // the parent waits for this
	select {}
}

// child is the parent's view of a child process.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser // closing it ends a child that lives on after Run
	addr  string
	http  *http.Client
	exit  chan struct{} // closed when the child's output ended: it exited
	mu    sync.Mutex
	lines []string // what it wrote to stderr: JSON log records, the dump
	news  chan struct{}
}

func startChild(t *testing.T, mode string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignalChild$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{t: t, cmd: cmd, stdin: stdin, exit: make(chan struct{}), news: make(chan struct{}, 1),
		http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exit
		_ = cmd.Wait()
	})

	addr := make(chan string, 1)
	var readers sync.WaitGroup
	readers.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "addr="); ok {
				addr <- a
			}
		}
	})
	readers.Go(func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
			select {
			case c.news <- struct{}{}:
			default:
			}
		}
	})
	go func() { readers.Wait(); close(c.exit) }()

	select {
	case c.addr = <-addr:
	case <-c.exit:
		t.Fatalf("the child exited before serving:\n%s", c.stderr())
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not start")
	}
	if mode == "slowstart" {
		c.await(func() bool { return c.logged(`"msg":"starting component","component":"migrations"`) }, "the child to be starting")
		return c
	}
	c.await(func() bool { code, _ := c.probe(); return code == http.StatusOK }, "the child to be ready")
	return c
}

func (c *child) stderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// await polls cond until it holds, failing the test after 10 seconds.
func (c *child) await(cond func() bool, what string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s; child's stderr:\n%s", what, c.stderr())
		}
		select {
		case <-tick.C:
		case <-c.news:
		}
	}
}

// probe asks the readiness endpoint, on a new connection; code 0 means the
// connection failed: nothing listens any more.
func (c *child) probe() (int, error) {
	resp, err := c.http.Get("http://" + c.addr + "/readyz")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (c *child) signal(sig syscall.Signal) {
	c.t.Helper()
	require.NoError(c.t, syscall.Kill(c.cmd.Process.Pid, sig))
}

// wait waits for the child to exit and returns its exit code.
func (c *child) wait() int {
	c.t.Helper()
	select {
	case <-c.exit:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("the child did not exit; its stderr:\n%s", c.stderr())
	}
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(c.t, err)
	return 0
}

// logged reports whether a stderr line contains s.
func (c *child) logged(s string) bool {
	return strings.Contains(c.stderr(), s)
}

// stopped lists the components the child's log says it stopped, in order.
func (c *child) stopped() []string {
	var names []string
	for _, line := range strings.Split(c.stderr(), "\n") {
		var rec struct{ Msg, Component string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "component stopped" {
			names = append(names, rec.Component)
		}
	}
	return names
}

// slowRequest starts a request to /slow and returns once the child is
// handling it; its body arrives on the channel.
func (c *child) slowRequest() <-chan error {
	c.t.Helper()
	resp, err := c.http.Get("http://" + c.addr + "/slow")
	require.NoError(c.t, err)
	require.Equal(c.t, http.StatusOK, resp.StatusCode)
	done := make(chan error, 1)
	go func() {
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && string(b) != "done" {
			err = fmt.Errorf("body %q", b)
		}
		done <- err
	}()
	return done
}

func TestRealSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}

	t.Run("SIGTERM drains, finishes requests and stops in reverse", func(t *testing.T) {
		c := startChild(t, "normal")
		slow := c.slowRequest()
		sent := time.Now()
		c.signal(syscall.SIGTERM)

		// Probe readiness on fresh connections until nothing listens.
		var seen []string
		c.await(func() bool {
			code, _ := c.probe()
			state := map[int]string{0: "closed", 200: "ready", 503: "not ready"}[code]
			if len(seen) == 0 || seen[len(seen)-1] != state {
				seen = append(seen, state)
			}
			return code == 0
		}, "the listener to close")
		if seen[0] == "ready" {
			seen = seen[1:] // the signal had not arrived yet
		}
		assert.Equal(t, []string{"not ready", "closed"}, seen, "readiness went not-ready before the listener closed")

		assert.NoError(t, <-slow, "the request in flight finished after the listener closed")
		assert.Equal(t, exitClean, c.wait(), c.stderr())
		elapsed := time.Since(sent)
		assert.Less(t, elapsed, childGrace, "exited within the grace period")
		assert.GreaterOrEqual(t, elapsed, childDrain, "after the drain")
		assert.Equal(t, []string{"http", "cache", "db"}, c.stopped(), "the log names each stopped component in reverse order")
		assert.True(t, c.logged(`"reason":"lifecycle: received signal terminated"`), c.stderr())
		assert.True(t, c.logged(`"msg":"stopped","elapsed"`), "the stop is logged")
		assert.True(t, c.logged(`"cause":"lifecycle: received signal terminated"`), "with its cause, though Run returned nil")
	})

	t.Run("Stop from a handler ends Run without a signal", func(t *testing.T) {
		c := startChild(t, "normal")
		resp, err := c.http.Get("http://" + c.addr + "/stop")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, exitClean, c.wait(), c.stderr())
		assert.Equal(t, []string{"http", "cache", "db"}, c.stopped())
		assert.True(t, c.logged(`"cause":"lifecycle: group stopped"`), c.stderr())
	})

	t.Run("SIGTERM during the start closes the listener of the server never started", func(t *testing.T) {
		c := startChild(t, "slowstart")
		conn, err := net.Dial("tcp", c.addr)
		require.NoError(t, err, "the listener is open: the kernel queues connections for the server to come")
		conn.Close()
		c.signal(syscall.SIGTERM)
		c.await(func() bool { return c.logged(`"msg":"run returned"`) }, "Run to return")
		conn, err = net.Dial("tcp", c.addr)
		if err == nil {
			conn.Close()
		}
		assert.Error(t, err, "the listener handed to HTTPServer is closed while the process lives on")
		assert.True(t, c.logged(`"msg":"run returned","err":null,"cause":"lifecycle: received signal terminated"`), "Run returned nil: the hook obeyed; %s", c.stderr())
		require.NoError(t, c.stdin.Close())
		assert.Equal(t, exitClean, c.wait(), c.stderr())
		assert.Equal(t, []string{"http", "cache", "db"}, c.stopped(), "http released, then the others stopped")
	})

	t.Run("a second SIGTERM cuts the drain and forces the stop", func(t *testing.T) {
		c := startChild(t, "normal")
		slow := c.slowRequest()
		c.signal(syscall.SIGTERM)
		c.await(func() bool { code, _ := c.probe(); return code == http.StatusServiceUnavailable }, "the drain")
		sent := time.Now()
		c.signal(syscall.SIGTERM)
		code := c.wait()
		assert.Less(t, time.Since(sent), childDrain, "the drain was cut short")
		assert.Error(t, <-slow, "the forced stop closed the connection in flight")
		assert.Equal(t, exitErrors, code, "Shutdown's context error is reported")
		assert.True(t, c.logged("cutting it short and forcing the stop"), c.stderr())
		assert.Equal(t, []string{"http", "cache", "db"}, c.stopped())
	})

	t.Run("a third SIGTERM dumps goroutines and exits at once", func(t *testing.T) {
		c := startChild(t, "stuck")
		c.signal(syscall.SIGTERM)
		c.await(func() bool { return c.logged("stuck stop running") }, "the stop to reach the stuck component")
		c.signal(syscall.SIGTERM)
		c.await(func() bool { return c.logged("signal during the stop: forcing it") }, "the forced stop")
		sent := time.Now()
		c.signal(syscall.SIGTERM)
		code := c.wait()
		assert.Less(t, time.Since(sent), time.Second, "exited at once")
		assert.Equal(t, exitAbandoned, code, c.stderr())
		assert.True(t, c.logged("lifecycle: goroutine dump"), c.stderr())
		assert.True(t, c.logged("lifecycle_test.stuckStop"), "the dump shows the stuck hook: %s", c.stderr())
		assert.Equal(t, []string{"http"}, c.stopped(), "stuck never stopped")
	})
}
