// Package service is a small HTTP service assembled with lifecycle: a
// pool.Pool of backend connections, a handles.Cache of open data files, a
// background worker restarted with backoff when it fails, an audit log
// written in the background after each request has been answered, and an
// HTTP server. It is stopped by a real SIGTERM: readiness turns to 503
// first, requests in flight finish, the components stop in reverse order,
// and the audit records still being written are waited for.
//
// Run it with `go run ./examples/tour service`.
package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/reclaim-go/reclaim/examples/tcppool"
	"github.com/reclaim-go/reclaim/lifecycle"
	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/pool/handles"
	"github.com/reclaim-go/reclaim/retry"
	"github.com/reclaim-go/reclaim/scope"
)

// app holds the service's parts.
type app struct {
	backend *pool.Pool[*tcppool.Conn]
	files   *handles.Cache[string, *os.File]
	audit   *scope.Background // owns the audit writes; drained at shutdown
	log     *os.File          // the audit log
	logMu   sync.Mutex
	audited atomic.Int64 // audit records written
	dir     string
	indexed atomic.Int64 // runs of the indexer that succeeded
	crashes atomic.Int64 // runs that failed and were restarted
}

func (a *app) routes(g *lifecycle.Group) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", g.Readiness())
	mux.HandleFunc("GET /ping/{n}", func(w http.ResponseWriter, r *http.Request) {
		var s scope.Scope
		defer s.Close()
		a.auditLater(&s, r)
		var n int
		fmt.Sscan(r.PathValue("n"), &n)
		if err := tcppool.Ping(r.Context(), a.backend, n); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "pong", n)
	})
	mux.HandleFunc("GET /file/{name}", func(w http.ResponseWriter, r *http.Request) {
		var s scope.Scope
		defer s.Close()
		a.auditLater(&s, r)
		ref, err := a.files.Get(r.Context(), r.PathValue("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer ref.Close() // the file stays open for the next request until idle
		buf := make([]byte, 64)
		n, err := ref.Value().ReadAt(buf, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(buf[:n])
	})
	// The pprof handlers serve the registry's profiles too: with the pool's
	// leases tracked (LeakThreshold, or RECLAIM_LEAKS=sampled),
	// /debug/pprof/reclaim.leases lists who holds each connection.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /hold", a.hold)
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		var s scope.Scope
		defer s.Close()
		a.auditLater(&s, r)                // started as SIGTERM drains: the stop waits for it
		time.Sleep(200 * time.Millisecond) // a request still in flight at SIGTERM
		fmt.Fprintln(w, "slow done")
	})
	return mux
}

// hold holds a backend connection until the request is cancelled: a
// client that forgot to hang up, for the pprof profile to find.
func (a *app) hold(w http.ResponseWriter, r *http.Request) {
	l, err := a.backend.Acquire(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer l.Release()
	fmt.Fprintln(w, "holding a connection")
	http.NewResponseController(w).Flush()
	<-r.Context().Done()
}

// auditLater registers the audit record of r as a background cleanup of
// the request's Scope: the response does not wait for the audit log, and
// the service's shutdown waits for every record (a.audit is a component of
// the group).
func (a *app) auditLater(s *scope.Scope, r *http.Request) {
	line := fmt.Sprintf("%s %s\n", r.Method, r.URL.Path)
	s.DeferBackground(a.audit, func(ctx context.Context) error {
		time.Sleep(30 * time.Millisecond) // a slow audit sink
		a.logMu.Lock()
		defer a.logMu.Unlock()
		if _, err := a.log.WriteString(line); err != nil {
			return err
		}
		a.audited.Add(1)
		return nil
	})
}

// index is the background worker. Its first run fails on purpose; the
// group restarts it with backoff instead of shutting down.
func (a *app) index(ctx context.Context) error {
	if a.crashes.Load() == 0 {
		a.crashes.Add(1)
		return errors.New("index: lost the lock on purpose")
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		entries, err := os.ReadDir(a.dir)
		if err != nil {
			return err
		}
		a.indexed.Store(int64(len(entries)))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Main builds the service, serves a few requests, finds a held connection
// in the pprof profile reclaim.leases, sends the process a SIGTERM while a
// slow request is in flight, and reports how it stopped.
func Main(w io.Writer) error {
	return Run(w, func(base string) error { return showLeases(w, base) })
}

// Run is Main with serving, called with the service's base URL once it has
// served its first requests, in place of Main's look at the pprof profile.
func Run(w io.Writer, serving func(base string) error) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)

	dir, err := os.MkdirTemp("", "reclaim-service")
	if err != nil {
		return err
	}
	s.Defer(func() error { return os.RemoveAll(dir) })
	for i := range 5 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("doc%d.txt", i)), []byte(fmt.Sprintf("document %d\n", i)), 0o600); err != nil {
			return err
		}
	}

	srvBackend, err := tcppool.StartBackend(0)
	if err != nil {
		return err
	}
	s.DeferClose(srvBackend)

	a := &app{dir: dir, audit: scope.NewBackground(4)}
	a.log, err = os.Create(filepath.Join(dir, "audit.log"))
	if err != nil {
		return err
	}
	s.DeferClose(a.log) // after the group has drained the audit writes
	var handshakeFailures int
	a.backend, err = pool.New(pool.Config[*tcppool.Conn]{
		Open: func(ctx context.Context) (*tcppool.Conn, error) {
			return tcppool.Dial(ctx, srvBackend.Addr(), &handshakeFailures)
		},
		MaxSize:         4,
		MaxConstructing: 1,
		// Tracks every lease: a lease held past a minute is logged, and
		// /debug/pprof/reclaim.leases lists those out with their stacks.
		LeakThreshold: time.Minute,
	})
	if err != nil {
		return err
	}
	a.files, err = handles.New(handles.Config[string, *os.File]{
		Open: func(ctx context.Context, name string) (*os.File, error) {
			return os.Open(filepath.Join(dir, filepath.Base(name)))
		},
		IdleTimeout: time.Second,
		MaxOpen:     3,
	})
	if err != nil {
		a.backend.Close(context.Background())
		return err
	}

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	g := lifecycle.New(
		lifecycle.Logger(logger),
		lifecycle.DrainDelay(100*time.Millisecond),
		lifecycle.GracePeriod(5*time.Second),
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// Stopped in reverse: the server, then the audit writes it started,
	// then the files and the backend pool.
	if err := errors.Join(
		g.Add(lifecycle.ContextCloser("backend-pool", a.backend)),
		g.Add(lifecycle.ContextCloser("files", a.files)),
		g.Add(lifecycle.ContextCloser("audit", a.audit)),
		g.Go("indexer", a.index, lifecycle.Restart(retry.Policy{MaxAttempts: 5, InitialDelay: 20 * time.Millisecond})),
		g.Add(lifecycle.HTTPServer("http", &http.Server{Handler: a.routes(g), ReadHeaderTimeout: time.Second}, ln)),
	); err != nil {
		return err
	}

	runErr := make(chan error, 1)
	go func() { runErr <- g.Run(context.Background()) }()
	base := "http://" + ln.Addr().String()
	if err := waitReady(base); err != nil {
		return err
	}

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for i := range 20 {
		if _, err := get(client, fmt.Sprintf("%s/ping/%d", base, i)); err != nil {
			return err
		}
		if _, err := get(client, fmt.Sprintf("%s/file/doc%d.txt", base, i%3)); err != nil {
			return err
		}
	}
	ps, hs := a.backend.Stats(), a.files.Stats()
	fmt.Fprintf(w, "served 40 requests: backend pool %d acquires over %d connections; files: %d opens for 20 reads, %d open (MaxOpen 3)\n",
		ps.Acquires, ps.Total, hs.Misses, hs.Open)
	for a.indexed.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprintf(w, "indexer: failed once on purpose, restarted with backoff, indexed %d files\n", a.indexed.Load())
	if err := serving(base); err != nil {
		return err
	}

	slow := make(chan string, 1)
	go func() {
		body, err := get(client, base+"/slow")
		if err != nil {
			body = err.Error()
		}
		slow <- body
	}()
	time.Sleep(50 * time.Millisecond) // the slow request is in flight
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		return err
	}
	readyz := waitNotReady(base)
	err = <-runErr
	fmt.Fprintf(w, "SIGTERM: readiness answered %s while draining; the in-flight request got %q\n", readyz, strings.TrimSpace(<-slow))
	fmt.Fprintf(w, "Run returned: %v (cause: %v)\n", err, g.Cause())
	var sig *lifecycle.SignalError
	if err != nil || !errors.As(g.Cause(), &sig) {
		return fmt.Errorf("service: stopped for another reason: %v: %w", g.Cause(), err)
	}
	fmt.Fprintf(w, "stopped in reverse order: %s\n", strings.Join(stopped(logs.String()), ", "))
	if n := a.audited.Load(); n != 41 {
		return fmt.Errorf("service: %d audit records written, want 41 (one per request)", n)
	}
	fmt.Fprintf(w, "audit: 41 records written in the background, the last one (the in-flight request's) before the stop finished\n")
	fmt.Fprintf(w, "backend connections live after stop: %d\n", srvBackend.LiveSettled(0))
	return nil
}

// showLeases asks /hold to keep a connection, and finds it, with the
// handler that acquired it, in /debug/pprof/reclaim.leases.
func showLeases(w io.Writer, base string) error {
	ctx, cancel := context.WithCancel(context.Background())
	held, err := Hold(ctx, base)
	if err != nil {
		cancel()
		return err
	}
	defer func() { cancel(); held() }()
	profile, err := get(http.DefaultClient, base+"/debug/pprof/reclaim.leases?debug=1")
	if err != nil {
		return err
	}
	if !strings.Contains(profile, "service.(*app).hold") {
		return fmt.Errorf("service: the held lease is not in the profile:\n%s", profile)
	}
	total, _, _ := strings.Cut(profile, "\n")
	fmt.Fprintf(w, "pprof: /debug/pprof/reclaim.leases (%s) names service.(*app).hold as the holder of a connection\n", total)
	return nil
}

// Hold makes a request to /hold that keeps a backend connection until ctx
// is done, and returns once the connection is held; done waits for the
// request to end after ctx is cancelled.
func Hold(ctx context.Context, base string) (done func(), err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/hold", nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	line := make([]byte, len("holding"))
	if _, err := io.ReadFull(resp.Body, line); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return func() {
		<-ctx.Done()
		resp.Body.Close()
		c.CloseIdleConnections()
	}, nil
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), err
}

func waitReady(base string) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if resp, err := c.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("service: never became ready")
}

// waitNotReady polls the readiness endpoint until it stops answering 200,
// and returns what it answered then.
func waitNotReady(base string) string {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := c.Get(base + "/readyz")
		if err != nil {
			return "nothing (listener closed)"
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.Status
		}
	}
	return "200 OK throughout"
}

// stopped lists the components in the order the group's log says they
// stopped.
func stopped(log string) []string {
	var names []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "stopped") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if name, ok := strings.CutPrefix(f, "component="); ok {
				names = append(names, name)
			}
		}
	}
	return names
}
