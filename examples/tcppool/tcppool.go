// Package tcppool pools client connections to a loopback TCP server with
// pool.Pool, dials each one with retry, and lets each dial attempt's Scope
// close the connection of a handshake that failed, before the next attempt.
// The server's own count of live connections is checked against the pool's
// Stats, and is zero once the pool is closed.
//
// Run it with `go run ./examples/tour tcppool`.
package tcppool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/retry"
	"github.com/reclaim-go/reclaim/scope"
)

var errBusy = errors.New("server busy")

// Conn is a client connection that completed its handshake.
type Conn struct {
	net.Conn
	r *bufio.Reader
}

// Dial connects and shakes hands, retrying a busy server with backoff. A
// failed attempt's connection is closed by the attempt's Scope before the
// next attempt; the successful one is kept. handshakeFailures counts the
// failed attempts; calls sharing it must not run at once.
func Dial(ctx context.Context, addr string, handshakeFailures *int) (*Conn, error) {
	policy := retry.Policy{
		MaxAttempts:  10,
		InitialDelay: time.Millisecond,
		MaxDelay:     10 * time.Millisecond,
		OnRetry: func(int, error, time.Duration) {
			*handshakeFailures++ // Open calls are serialized by MaxConstructing: 1
		},
	}
	return retry.Value(ctx, policy, func(a *retry.Attempt) (*Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(a.Context(), "tcp", addr)
		if err != nil {
			return nil, err
		}
		a.Scope().OnFailure(nc.Close)
		c := &Conn{Conn: nc, r: bufio.NewReader(nc)}
		if _, err := io.WriteString(c, "HELLO\n"); err != nil {
			return nil, err
		}
		line, err := c.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line != "OK\n" {
			return nil, errBusy
		}
		return c, nil
	})
}

// Ping makes one request on a leased connection. A connection that failed
// mid-request is destroyed instead of going back to the pool.
func Ping(ctx context.Context, p *pool.Pool[*Conn], n int) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)
	lease, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	s.DeferClose(lease)                                       // Release on success; a no-op after Destroy
	s.OnFailure(func() error { lease.Destroy(); return nil }) // runs first: a broken connection is not reused
	c := lease.Value()
	if _, err := fmt.Fprintf(c, "PING %d\n", n); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != fmt.Sprintf("PONG %d\n", n) {
		return fmt.Errorf("tcppool: got %q", line)
	}
	return nil
}

// Main runs 16 clients of 50 requests each through a pool of at most 4
// connections to a server that refuses the first 3 handshakes.
func Main(w io.Writer) (err error) {
	ctx := context.Background()
	var s scope.Scope
	defer s.CloseInto(&err)

	srv, err := StartBackend(3)
	if err != nil {
		return err
	}
	s.DeferClose(srv)

	var handshakeFailures int
	p, err := pool.New(pool.Config[*Conn]{
		Open:            func(ctx context.Context) (*Conn, error) { return Dial(ctx, srv.Addr(), &handshakeFailures) },
		MaxSize:         4,
		MaxConstructing: 1,
		MaxIdleTime:     time.Minute,
	})
	if err != nil {
		return err
	}
	s.DeferContext(p.Close) // closes every pooled connection

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := Ping(ctx, p, g*100+i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}

	st := p.Stats()
	live := srv.Live()
	fmt.Fprintf(w, "800 requests from 16 clients over %d pooled connections (MaxSize 4)\n", st.Total)
	fmt.Fprintf(w, "acquires %d, of which %d waited for a connection; %d opened\n", st.Acquires, st.Waits, st.Opened)
	fmt.Fprintf(w, "hold time: mean %v, p99 under %v\n", st.HoldDurations.Mean().Round(time.Microsecond), st.HoldDurations.Quantile(0.99))
	fmt.Fprintf(w, "handshakes refused and closed by the attempt's Scope: %d\n", handshakeFailures)
	fmt.Fprintf(w, "server: %d connections accepted, %d live; pool: %d open\n", srv.accepted.Load(), live, st.Total)
	if int(live) != st.Total {
		return fmt.Errorf("tcppool: server sees %d live connections, pool has %d", live, st.Total)
	}
	if err := p.Close(ctx); err != nil {
		return err
	}
	n := srv.LiveSettled(0)
	fmt.Fprintf(w, "after pool.Close: %d live on the server\n", n)
	if n != 0 {
		return fmt.Errorf("tcppool: %d connections still live after Close", n)
	}
	return nil
}
