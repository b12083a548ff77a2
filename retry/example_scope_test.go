package retry_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/reclaim-go/reclaim/retry"
)

// A connection that fails its handshake is closed by the attempt's Scope
// before the next attempt; the one that succeeds is kept.
func ExampleAttempt_Scope() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	// A server that is busy for its first client, then ready. It reports
	// which connections the client closed.
	closed := make(chan int, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			greeting := "ready\n"
			if n == 1 {
				greeting = "busy\n"
			}
			_, _ = io.WriteString(c, greeting)
			wg.Go(func() {
				_, _ = io.Copy(io.Discard, c) // until the client closes
				_ = c.Close()
				closed <- n
			})
		}
	})

	policy := retry.Policy{InitialDelay: retry.NoDelay}
	policy.OnRetry = func(attempt int, err error, _ time.Duration) {
		fmt.Printf("attempt %d: %v\n", attempt, err)
	}
	conn, err := retry.Value(context.Background(), policy, func(a *retry.Attempt) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(a.Context(), "tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		a.Scope().OnFailure(conn.Close) // the handshake below may fail
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line != "ready\n" {
			return nil, fmt.Errorf("handshake: server %s", strings.TrimSpace(line))
		}
		return conn, nil
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("connected; the client closed connection", <-closed)

	_ = conn.Close()
	fmt.Println("done; the client closed connection", <-closed)
	_ = ln.Close()
	wg.Wait()
	// Output:
	// attempt 1: handshake: server busy
	// connected; the client closed connection 1
	// done; the client closed connection 2
}
