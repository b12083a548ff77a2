package httpclient

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A Server is a loopback HTTP server that fails at random, but
// reproducibly: whether the n-th request for a path fails, and how, depends
// on the path and n only. It counts its live connections.
type Server struct {
	*httptest.Server

	mu      sync.Mutex
	hits    map[string]int
	live    int
	changed chan struct{} // closed and replaced whenever live changes

	accepted                  atomic.Int64
	unavailable, resets, slow atomic.Int64
}

// The faults a request may meet.
const (
	ok          = iota
	unavailable // 503 with Retry-After: 0
	reset       // the connection is reset before any response
	slow        // no response until the client gives up
)

// StartServer starts a Server on 127.0.0.1. Besides its flaky /page/N
// paths, it answers /missing with 404, /busy-for-a-second with a 503 asking
// for a second's pause the first time, and /busy-for-a-minute with a 503
// asking for a minute's, every time.
func StartServer() *Server {
	s := &Server{hits: make(map[string]int), changed: make(chan struct{})}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ConnState = s.connState
	s.Start()
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	hit := s.hits[r.URL.Path]
	s.mu.Unlock()
	switch path := r.URL.Path; {
	case path == "/missing":
		http.NotFound(w, r)
	case path == "/busy-for-a-second" && hit == 1:
		s.unavailable.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	case path == "/busy-for-a-minute":
		s.unavailable.Add(1)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	default:
		switch fault(path, hit) {
		case unavailable:
			s.unavailable.Add(1)
			w.Header().Set("Retry-After", "0")
			http.Error(w, "warming up", http.StatusServiceUnavailable)
		case reset:
			s.resets.Add(1)
			s.resetConn(w)
		case slow:
			s.slow.Add(1)
			<-r.Context().Done() // the client's Timeout, then its close
		default:
			fmt.Fprintf(w, "page %s\n", path)
		}
	}
}

// fault decides what the hit-th request for path meets: any of the faults
// for the first three, then success, so that every page can be fetched.
func fault(path string, hit int) int {
	if hit > 3 {
		return ok
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(path + "#" + strconv.Itoa(hit)))
	switch h.Sum64() % 10 {
	case 0, 1:
		return unavailable
	case 2:
		return reset
	case 3:
		return slow
	}
	return ok
}

// resetConn closes the request's connection with a TCP reset.
func (s *Server) resetConn(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err) // an HTTP/1 server's writer always hijacks
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func (s *Server) connState(_ net.Conn, state http.ConnState) {
	var d int
	switch state {
	case http.StateNew:
		s.accepted.Add(1)
		d = 1
	case http.StateClosed, http.StateHijacked:
		d = -1
	default:
		return
	}
	s.mu.Lock()
	s.live += d
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Live returns the number of connections open on the server's side, once
// it is zero or after timeout: the server notices a client's close a
// moment after it happens.
func (s *Server) Live(timeout time.Duration) int {
	expired := time.After(timeout)
	for {
		s.mu.Lock()
		n, changed := s.live, s.changed
		s.mu.Unlock()
		if n == 0 {
			return 0
		}
		select {
		case <-changed:
		case <-expired:
			return n
		}
	}
}
