package lifecycle_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/lifecycle"
)

// The tests of issue #14, items 7 and 10: what the group was handed is
// closed exactly once, whatever happens, and bad input is rejected by the
// call that made it.

// countingCloser records its Close calls, as an io.Closer and with a
// context.
type countingCloser struct {
	name string
	ev   *events
	mu   sync.Mutex
	n    int
}

func (c *countingCloser) Close() error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.ev.add("close %s", c.name)
	return nil
}

func (c *countingCloser) closes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

type ctxCloser struct{ countingCloser }

func (c *ctxCloser) Close(context.Context) error { return c.countingCloser.Close() }

// countingListener is a real listener that counts its Close calls.
type countingListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (l *countingListener) Close() error {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
	return l.Listener.Close()
}

func (l *countingListener) closes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func refused(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		return false
	}
	return true
}

func TestWhatTheGroupWasHandedIsClosedOnceWhenNeverStarted(t *testing.T) {
	for _, how := range []string{"an earlier start fails", "Stop before Start", "Stop during the start"} {
		t.Run(how, func(t *testing.T) {
			var ev events
			ln := &countingListener{Listener: listen(t)}
			file := &countingCloser{name: "file", ev: &ev}
			pool := &ctxCloser{countingCloser{name: "pool", ev: &ev}}
			g := lifecycle.New()
			started := make(chan struct{})
			addAll(t, g, comp(&ev, "db"), lifecycle.Component{Name: "migrations", Start: func(ctx context.Context) error {
				close(started)
				if how == "an earlier start fails" {
					return errors.New("schema too new")
				}
				<-ctx.Done()
				return ctx.Err()
			}},
				lifecycle.Closer("file", file),
				lifecycle.ContextCloser("pool", pool),
				lifecycle.HTTPServer("http", &http.Server{}, ln),
				lifecycle.Component{Name: "tmp", Stop: func(context.Context) error { ev.add("remove tmp"); return nil }})
			switch how {
			case "Stop before Start":
				require.NoError(t, g.Stop(context.Background()))
				assert.Equal(t, []string{"remove tmp", "close pool", "close file"}, ev.get(),
					"released in reverse order: components without Start hold what exists already")
			case "Stop during the start":
				startErr := make(chan error, 1)
				go func() { startErr <- g.Start(context.Background()) }()
				<-started
				require.NoError(t, g.Stop(context.Background()))
				assert.ErrorIs(t, <-startErr, lifecycle.ErrStopped)
				assert.Equal(t, []string{"start db", "remove tmp", "close pool", "close file", "stop db"}, ev.get(), "released in their place in the reverse order")
			default:
				require.Error(t, g.Start(context.Background()))
				assert.Equal(t, []string{"start db", "remove tmp", "close pool", "close file", "stop db"}, ev.get())
				require.Error(t, g.Stop(context.Background()))
			}
			assert.Equal(t, 1, file.closes())
			assert.Equal(t, 1, pool.closes())
			assert.Equal(t, 1, ln.closes(), "the server's listener too")
			assert.True(t, refused(t, ln.Addr().String()), "nothing listens")
		})
	}
}

func TestHTTPServerClosesItsListenerOnce(t *testing.T) {
	ln := &countingListener{Listener: listen(t)}
	g := lifecycle.New()
	require.NoError(t, g.Add(lifecycle.HTTPServer("http", &http.Server{}, ln)))
	mustStart(t, g)
	_, err := get(client(), "http://"+ln.Addr().String()+"/")
	require.NoError(t, err)
	require.NoError(t, g.Stop(context.Background()))
	assert.Equal(t, 1, ln.closes(), "Serve and the stop hook close it together, once")
}

func TestClosersAreClosedOnceWhenStarted(t *testing.T) {
	var ev events
	file := &countingCloser{name: "file", ev: &ev}
	g := lifecycle.New()
	addAll(t, g, lifecycle.Closer("file", file))
	mustStart(t, g)
	require.NoError(t, g.Stop(context.Background()))
	require.NoError(t, g.Stop(context.Background()))
	assert.Equal(t, 1, file.closes())
}

func TestBadInputIsRejectedByTheCallThatMadeIt(t *testing.T) {
	g := lifecycle.New()
	nop := func(context.Context) error { return nil }
	var nilFile *os.File
	var nilTCP *net.TCPListener
	var nilPool *ctxCloser
	for _, tc := range []struct {
		err  error
		want string
	}{
		{g.Add(lifecycle.Closer("a", nil)), `lifecycle: Add: Closer "a": the io.Closer is nil`},
		{g.Add(lifecycle.Closer("b", nilFile)), `lifecycle: Add: Closer "b": the io.Closer is nil`},
		{g.Add(lifecycle.ContextCloser("c", nil)), `lifecycle: Add: ContextCloser "c": the closer is nil`},
		{g.Add(lifecycle.ContextCloser("d", nilPool)), `lifecycle: Add: ContextCloser "d": the closer is nil`},
		{g.Add(lifecycle.HTTPServer("e", nil, nil)), `lifecycle: Add: HTTPServer "e": the *http.Server is nil`},
		{g.Add(lifecycle.HTTPServer("f", &http.Server{}, nilTCP)), `lifecycle: Add: HTTPServer "f": the listener is a nil *net.TCPListener (pass nil itself to listen on srv.Addr)`},
	} {
		assert.EqualError(t, tc.err, tc.want)
	}
	require.NoError(t, g.Add(lifecycle.Component{Name: "db"}))
	require.NoError(t, g.Go("worker", nop))
	assert.EqualError(t, g.Go("worker", nop), `lifecycle: Go: the name "worker" is taken by a component or goroutine added before`)
	assert.EqualError(t, g.Go("db", nop), `lifecycle: Go: the name "db" is taken by a component or goroutine added before`)
	assert.EqualError(t, g.Add(lifecycle.Component{Name: "worker"}), `lifecycle: Add: the name "worker" is taken by a component or goroutine added before`)
	mustStart(t, g)
	assert.EqualError(t, g.Go("worker", nop), `lifecycle: Go: the name "worker" is taken by a component or goroutine added before`, "while running too")
	require.NoError(t, g.Go("worker 2", nop))
	require.NoError(t, g.Stop(context.Background()))
}

func TestReleaseHangingPastItsShareIsAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		g := lifecycle.New()
		addAll(t, g, lifecycle.ContextCloser("stuck", closerFunc(func(context.Context) error { <-release; return nil })))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var te *lifecycle.TimeoutError
		require.ErrorAs(t, g.Stop(ctx), &te)
		assert.Equal(t, "stuck", te.Name)
		close(release)
		synctest.Wait()
	})
}

type closerFunc func(context.Context) error

func (f closerFunc) Close(ctx context.Context) error { return f(ctx) }
