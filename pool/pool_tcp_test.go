package pool_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/fds"
	"github.com/reclaim-go/reclaim/pool"
)

// lineServer is a TCP echo server on 127.0.0.1 that counts the
// connections it has open, so that the test can compare the pool's view
// with the server's.
type lineServer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu      sync.Mutex
	live    int
	conns   map[net.Conn]bool
	changed chan struct{} // closed and replaced at every change of live
}

func startLineServer(t *testing.T) *lineServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &lineServer{ln: ln, conns: map[net.Conn]bool{}, changed: make(chan struct{})}
	s.wg.Go(s.accept)
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *lineServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.update(func() { s.live++; s.conns[c] = true })
		s.wg.Go(func() {
			defer s.update(func() { s.live--; delete(s.conns, c) })
			defer c.Close()
			// Echo until the client closes. Not io.Copy: on Linux it
			// splices through pipes that the runtime keeps for reuse,
			// which would blur the descriptor count.
			buf := make([]byte, 512)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

func (s *lineServer) update(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitLive waits until the server has n connections open. Closing is
// asynchronous on the server's side, so the test waits for the change
// rather than sampling; the timeout only turns a bug into a failure.
func (s *lineServer) waitLive(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		live, changed := s.live, s.changed
		s.mu.Unlock()
		if live == n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("server has %d connections open, want %d", live, n)
		}
	}
}

// checkStep compares the pool's count of open connections with the
// server's.
func (s *lineServer) checkStep(t *testing.T, p *pool.Pool[net.Conn], total, inUse, idle int) {
	t.Helper()
	s.waitLive(t, total)
	st := p.Stats()
	assert.Equal(t, total, st.Total, "Total")
	assert.Equal(t, inUse, st.InUse, "InUse")
	assert.Equal(t, idle, st.Idle, "Idle")
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_, err := io.WriteString(c, msg+"\n")
	require.NoError(t, err)
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, msg+"\n", line)
}

func newConnPool(t *testing.T, addr string, cfg pool.Config[net.Conn]) *pool.Pool[net.Conn] {
	t.Helper()
	var d net.Dialer
	cfg.Open = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	p, err := pool.New(cfg)
	require.NoError(t, err)
	return p
}

func TestPoolOfRealTCPConnectionsMatchesTheServerAtEveryStep(t *testing.T) {
	before, err := fds.Count()
	require.NoError(t, err)
	srv := startLineServer(t)
	p := newConnPool(t, srv.ln.Addr().String(), pool.Config[net.Conn]{MaxSize: 3})
	ctx := context.Background()

	a, err := p.Acquire(ctx)
	require.NoError(t, err)
	b, err := p.Acquire(ctx)
	require.NoError(t, err)
	echo(t, a.Value(), "hello")
	echo(t, b.Value(), "world")
	srv.checkStep(t, p, 2, 2, 0)

	addr := a.Value().LocalAddr().String()
	a.Release()
	srv.checkStep(t, p, 2, 1, 1)
	a, err = p.Acquire(ctx)
	require.NoError(t, err)
	assert.Equal(t, addr, a.Value().LocalAddr().String(), "the same connection is reused")
	echo(t, a.Value(), "again")
	srv.checkStep(t, p, 2, 2, 0)

	b.Destroy()
	srv.checkStep(t, p, 1, 1, 0)

	c, err := p.Acquire(ctx)
	require.NoError(t, err)
	d, err := p.Acquire(ctx)
	require.NoError(t, err)
	srv.checkStep(t, p, 3, 3, 0)

	// Full: a waiter is served by the next release, on the same socket.
	w := make(chan pool.Lease[net.Conn])
	go func() {
		l, err := p.Acquire(ctx)
		assert.NoError(t, err)
		w <- l
	}()
	for p.Stats().Waiters == 0 {
		runtime.Gosched() // until the waiter is queued
	}
	c.Release()
	e := <-w
	echo(t, e.Value(), "handed over")
	srv.checkStep(t, p, 3, 3, 0)

	a.Release()
	d.Release()
	e.Release()
	srv.checkStep(t, p, 3, 0, 3)

	require.NoError(t, p.Close(ctx))
	srv.checkStep(t, p, 0, 0, 0)
	st := p.Stats()
	assert.EqualValues(t, 3, st.DestroyedClose)
	assert.EqualValues(t, 1, st.DestroyedExplicit)
	assert.EqualValues(t, 4, st.Opened)

	after, err := fds.Count()
	require.NoError(t, err)
	// The listener and the server's conns are still open until cleanup:
	// only the listener remains.
	assert.Equal(t, before+1, after, "every client connection is closed")
}

func TestPoolCloseDestroysLateTCPLeasesUnderTheirHolders(t *testing.T) {
	srv := startLineServer(t)
	p := newConnPool(t, srv.ln.Addr().String(), pool.Config[net.Conn]{MaxSize: 2, LeakThreshold: time.Hour})
	late, err := p.Acquire(context.Background())
	require.NoError(t, err)
	srv.checkStep(t, p, 1, 1, 0)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = p.Close(ctx)
	var le *pool.LeaseError
	require.ErrorAs(t, err, &le)
	assert.Contains(t, le.Stack(), "TestPoolCloseDestroysLateTCPLeasesUnderTheirHolders")
	srv.waitLive(t, 0)
	_, err = late.Value().Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed, "the holder's connection was closed")
	assert.NoError(t, late.Close(), "giving it back afterwards is harmless")
}
