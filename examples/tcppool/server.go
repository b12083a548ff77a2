package tcppool

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Backend is a loopback TCP server speaking a line protocol: a client says
// HELLO and gets OK (or BUSY, for the first refusals handshakes, as a server
// warming up does), then each "PING n" gets "PONG n". It counts live
// connections, so that the example can check them against the pool's Stats.
type Backend struct {
	ln       net.Listener
	refusals atomic.Int32
	live     atomic.Int32
	accepted atomic.Int32
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// StartBackend starts a Backend that refuses the first refusals handshakes.
func StartBackend(refusals int32) (*Backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Backend{ln: ln, conns: map[net.Conn]struct{}{}}
	b.refusals.Store(refusals)
	b.wg.Add(1)
	go b.accept()
	return b, nil
}

// Addr is the address the backend listens on.
func (b *Backend) Addr() string { return b.ln.Addr().String() }

// Refuse makes the backend refuse the next n handshakes.
func (b *Backend) Refuse(n int32) { b.refusals.Store(n) }

// Live returns the number of connections open on the server side.
func (b *Backend) Live() int32 { return b.live.Load() }

// LiveSettled gives the server a moment to notice connections the clients
// closed, and returns how many are still open: as soon as want are, or, for
// a negative want, once the count has not moved for 50 ms; within 2 s.
func (b *Backend) LiveSettled(want int32) int32 {
	n, since := b.Live(), time.Now()
	for deadline := since.Add(2 * time.Second); n != want && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
		if m := b.Live(); m != n {
			n, since = m, time.Now()
		} else if want < 0 && time.Since(since) >= 50*time.Millisecond {
			break
		}
	}
	return n
}

func (b *Backend) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.accepted.Add(1)
		b.live.Add(1)
		b.mu.Lock()
		b.conns[c] = struct{}{}
		b.mu.Unlock()
		b.wg.Add(1)
		go b.serve(c)
	}
}

func (b *Backend) serve(c net.Conn) {
	defer b.wg.Done()
	defer func() {
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		c.Close()
		b.live.Add(-1)
	}()
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || line != "HELLO\n" {
		return
	}
	if b.refusals.Add(-1) >= 0 {
		fmt.Fprint(c, "BUSY\n")
		r.ReadString('\n') // the client is expected to hang up
		return
	}
	fmt.Fprint(c, "OK\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if n, ok := strings.CutPrefix(line, "PING "); ok {
			fmt.Fprintf(c, "PONG %s", n)
		}
	}
}

// Close stops accepting, closes every connection and waits for the
// handlers to return.
func (b *Backend) Close() error {
	err := b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
	return err
}
