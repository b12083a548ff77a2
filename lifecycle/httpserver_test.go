package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/lifecycle"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// client returns an HTTP client that keeps no idle connections, so that
// the tests leave no goroutines behind.
func client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestHTTPServerFinishesRequestsInFlight(t *testing.T) {
	ln := listen(t)
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	srv := &http.Server{Handler: mux}
	shutdownBegan := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(shutdownBegan) })

	g := lifecycle.New()
	require.NoError(t, g.Add(lifecycle.HTTPServer("http", srv, ln)))
	mustStart(t, g)

	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		body, err := get(client(), "http://"+ln.Addr().String()+"/slow")
		res <- result{body, err}
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- g.Stop(context.Background()) }()
	<-shutdownBegan

	_, err := get(client(), "http://"+ln.Addr().String()+"/slow")
	assert.Error(t, err, "the listener is closed once the stop began")
	close(release)
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, "done", r.body, "the request in flight finished")
	require.NoError(t, <-stopped)
	require.NoError(t, g.CheckLeaks(context.Background()))
}

func TestHTTPServerListensOnAddrAtStart(t *testing.T) {
	taken := listen(t)
	defer taken.Close()

	g := lifecycle.New()
	require.NoError(t, g.Add(lifecycle.HTTPServer("http", &http.Server{Addr: taken.Addr().String()}, nil)))
	err := g.Start(context.Background())
	assert.ErrorContains(t, err, `lifecycle: component "http": start: listen tcp`)
	assert.ErrorContains(t, err, "address already in use")

	g = lifecycle.New()
	srv := &http.Server{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()}
	require.NoError(t, g.Add(lifecycle.HTTPServer("http", srv, nil)))
	mustStart(t, g)
	require.NoError(t, g.Stop(context.Background()))
	require.NoError(t, g.CheckLeaks(context.Background()))
}

func TestHTTPServerForcedStopClosesConnections(t *testing.T) {
	ln := listen(t)
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done(): // the connection was closed
		}
	})}
	shutdownBegan := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(shutdownBegan) })
	g := lifecycle.New()
	require.NoError(t, g.Add(lifecycle.HTTPServer("http", srv, ln)))
	mustStart(t, g)

	reqErr := make(chan error, 1)
	go func() {
		_, err := get(client(), "http://"+ln.Addr().String()+"/")
		reqErr <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- g.Stop(ctx) }()
	<-shutdownBegan
	cancel() // force
	err := <-stopped
	assert.ErrorIs(t, err, context.Canceled)
	assert.Error(t, <-reqErr, "the request in flight was cut")
	require.NoError(t, g.CheckLeaks(context.Background()))
}

// brokenListener fails every Accept once broken is closed, as a listener
// whose descriptor was closed under it would.
type brokenListener struct {
	net.Listener
	broken chan struct{}
}

func (l brokenListener) Accept() (net.Conn, error) {
	<-l.broken
	return nil, errors.New("accept: bad file descriptor")
}

func TestHTTPServerServeFailureShutsTheGroupDown(t *testing.T) {
	ln := listen(t)
	dbStopped := make(chan struct{})
	g := lifecycle.New()
	require.NoError(t, g.Add(lifecycle.Component{Name: "db", Stop: func(context.Context) error {
		close(dbStopped)
		return nil
	}}))
	broken := make(chan struct{})
	require.NoError(t, g.Add(lifecycle.HTTPServer("http", &http.Server{}, brokenListener{ln, broken})))
	mustStart(t, g)
	close(broken)
	select {
	case <-dbStopped: // nobody called Stop: the failure did
	case <-time.After(10 * time.Second):
		t.Fatal("the serve failure did not stop the group")
	}
	err := g.Stop(context.Background())
	assert.ErrorContains(t, err, `lifecycle: component "http": serve: accept: bad file descriptor`)
	assert.False(t, g.Ready())
}
