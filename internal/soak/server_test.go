package soak

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is an echo server on 127.0.0.1 that counts the connections it has
// open, so that the soak can tell whether every connection a client opened
// was closed: the server closes its end when it reads the client's EOF.
type server struct {
	ln   net.Listener
	open atomic.Int64
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newServer(t *testing.T) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.open.Add(1)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_, _ = io.Copy(c, c) // echo until the client closes
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			_ = c.Close()
			s.open.Add(-1)
		}()
	}
}

// close waits a moment for clients' closes to arrive, then stops the
// server; the caller reads open afterwards to find what clients leaked.
func (s *server) close() {
	waitFor(2*time.Second, func() bool { return s.open.Load() == 0 })
	leaked := s.open.Load()
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.open.Store(leaked)
}
