package lifecycle

import (
	"context"
	"errors"
	"net"
	"net/http"

	"go.uber.org/multierr"
)

// HTTPServer returns a Component that serves srv on ln.
//
// Start listens, if ln is nil, on srv.Addr (":http", or ":https" when
// srv.TLSConfig is set, if Addr is empty), so that an address in use makes
// Start fail; serving then runs in a goroutine of the group, with TLS when
// srv.TLSConfig is set (its certificates, not files). If Serve fails while
// the group runs, the group shuts down as for a failed supervised
// goroutine.
//
// Stop calls srv.Shutdown with the stop context: the listener closes, idle
// connections close, and Stop waits for requests in flight. If the
// context is done first (the component's share of the stop budget is
// spent, or the stop is forced), Stop closes the remaining connections
// with srv.Close and returns the context's error. The group then waits for
// the serving goroutine to return. As with Shutdown itself, hijacked
// connections (WebSockets) are not tracked: see
// [http.Server.RegisterOnShutdown].
//
// To fail the readiness probe before the listener closes, serve
// [Group.Readiness] on srv and use [Group.Run] with a [DrainDelay].
func HTTPServer(name string, srv *http.Server, ln net.Listener) Component {
	h := &httpServer{srv: srv, ln: ln}
	return Component{Name: name, Start: h.start, Stop: h.stop, serve: h.serve}
}

type httpServer struct {
	srv *http.Server
	ln  net.Listener // set by start when not given
}

func (h *httpServer) start(ctx context.Context) error {
	if h.ln != nil {
		return nil
	}
	addr := h.srv.Addr
	if addr == "" {
		addr = ":http"
		if h.srv.TLSConfig != nil {
			addr = ":https"
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	h.ln = ln
	return nil
}

func (h *httpServer) serve() error {
	var err error
	if h.srv.TLSConfig != nil {
		err = h.srv.ServeTLS(h.ln, "", "")
	} else {
		err = h.srv.Serve(h.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (h *httpServer) stop(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	if err != nil {
		err = multierr.Append(err, h.srv.Close())
	}
	// Serve closes the listener, but it never ran if Start was abandoned
	// and succeeded late.
	if cerr := h.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = multierr.Append(err, cerr)
	}
	return err
}
