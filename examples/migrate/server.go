package migrate

import (
	"bufio"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// server is a loopback TCP server whose handshake fails for the first busy
// connections. It counts live connections, so a leak shows as a number.
type server struct {
	ln    net.Listener
	busy  atomic.Int32
	live  atomic.Int32
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startServer() (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.live.Add(1)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
		s.live.Add(-1)
	}()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "HELLO\n" {
		return
	}
	reply := "OK\n"
	if s.busy.Add(-1) >= 0 {
		reply = "BUSY\n"
	}
	if _, err := io.WriteString(c, reply); err != nil {
		return
	}
	io.Copy(io.Discard, c) // held open until the client closes it
}

// liveConns waits for the server to notice closed connections (the count
// stays put for 50 ms), then returns how many are still open.
func (s *server) liveConns() int32 {
	n, since := s.live.Load(), time.Now()
	for deadline := since.Add(2 * time.Second); time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		if m := s.live.Load(); m != n {
			n, since = m, time.Now()
		} else if time.Since(since) >= 50*time.Millisecond {
			break
		}
	}
	return n
}

func (s *server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// handshake sends HELLO and expects OK.
func handshake(c net.Conn) error {
	if _, err := io.WriteString(c, "HELLO\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "OK\n" {
		return errBusy
	}
	return nil
}
