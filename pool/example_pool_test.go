package pool_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/scope"
)

// client stands for an expensive protocol client with no pool of its own.
type client struct{ id int }

func (c *client) Close() error { return nil }

func ExamplePool() {
	opened := 0
	p, err := pool.New(pool.Config[*client]{
		Open: func(ctx context.Context) (*client, error) {
			opened++
			return &client{id: opened}, nil
		},
		// Close is *client's own Close method, as it is an io.Closer.
		MaxSize: 4,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	l, err := p.Acquire(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("using client", l.Value().id)
	l.Release()

	l, _ = p.Acquire(ctx) // the idle client is reused
	fmt.Println("using client", l.Value().id)
	l.Release()

	st := p.Stats()
	fmt.Printf("opened %d, lent %d times, %d idle\n", st.Opened, st.Acquires, st.Idle)
	fmt.Println("close:", p.Close(ctx))
	// Output:
	// using client 1
	// using client 1
	// opened 1, lent 2 times, 1 idle
	// close: <nil>
}

// A lease is an io.Closer: a Scope gives it back however the function
// returns.
func ExamplePool_scope() {
	p, _ := pool.New(pool.Config[*client]{
		Open:    func(context.Context) (*client, error) { return &client{id: 1}, nil },
		MaxSize: 1,
	})
	defer p.Close(context.Background())

	query := func(ctx context.Context) error {
		return scope.Run(ctx, func(ctx context.Context, s *scope.Scope) error {
			l, err := p.Acquire(ctx)
			if err != nil {
				return err
			}
			s.DeferClose(l)
			fmt.Println("querying with client", l.Value().id)
			return errors.New("query failed")
		})
	}
	fmt.Println(query(context.Background()))
	fmt.Println("idle after the failure:", p.Stats().Idle)
	// Output:
	// querying with client 1
	// query failed
	// idle after the failure: 1
}

// An Acquire that times out says what the pool was doing.
func ExampleAcquireError() {
	p, _ := pool.New(pool.Config[*client]{
		Open:    func(context.Context) (*client, error) { return &client{}, nil },
		MaxSize: 1,
	})
	defer p.Close(context.Background())
	held, _ := p.Acquire(context.Background())
	defer held.Release()

	ctx, cancel := context.WithTimeout(context.Background(), 0) // already expired
	defer cancel()
	_, err := p.Acquire(ctx)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	var ae *pool.AcquireError
	if errors.As(err, &ae) {
		fmt.Printf("%d/%d in use, %d idle\n", ae.Stats.InUse, ae.Stats.MaxSize, ae.Stats.Idle)
	}
	// Output:
	// true
	// 1/1 in use, 0 idle
}

// A pool of TCP connections to a server on the loopback interface.
func ExamplePool_tcp() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() { // a server that answers "pong" to each connection's first byte
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					c.Write([]byte("pong"))
				}
			}()
		}
	}()

	var d net.Dialer
	p, err := pool.New(pool.Config[net.Conn]{
		Open:        func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", ln.Addr().String()) },
		MaxSize:     8,
		MaxIdleTime: time.Minute,
	})
	if err != nil {
		panic(err)
	}
	for range 3 {
		l, err := p.Acquire(context.Background())
		if err != nil {
			panic(err)
		}
		c := l.Value()
		buf := make([]byte, 4)
		if _, err := c.Write([]byte("p")); err != nil {
			l.Destroy() // broken: do not reuse it
			continue
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			l.Destroy()
			continue
		}
		fmt.Println(string(buf))
		l.Release()
	}
	fmt.Println("connections opened:", p.Stats().Opened)
	fmt.Println("close:", p.Close(context.Background()))
	// Output:
	// pong
	// pong
	// pong
	// connections opened: 1
	// close: <nil>
}
