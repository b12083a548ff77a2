package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

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
// ln, when not nil, belongs to the group from the moment [Group.Add]
// accepts the component: it is closed exactly once, also when the server
// never starts (a component added before it failed to start, or the group
// was stopped first). A nil srv, or an ln that is a nil pointer, makes Add
// fail.
//
// To fail the readiness probe before the listener closes, serve
// [Group.Readiness] on srv and use [Group.Run] with a [DrainDelay].
func HTTPServer(name string, srv *http.Server, ln net.Listener) Component {
	switch {
	case srv == nil:
		return Component{Name: name, invalid: fmt.Errorf("HTTPServer %q: the *http.Server is nil", name)}
	case ln != nil && isNil(ln):
		return Component{Name: name, invalid: fmt.Errorf("HTTPServer %q: the listener is a nil %T (pass nil itself to listen on srv.Addr)", name, ln)}
	}
	h := &httpServer{srv: srv}
	c := Component{Name: name, Start: h.start, Stop: h.stop, serve: h.serve}
	if ln != nil {
		h.ln = &onceCloseListener{Listener: ln}
		c.release = func(context.Context) error { return h.closeListener() }
	}
	return c
}

type httpServer struct {
	srv *http.Server
	ln  net.Listener // set by start when not given
}

// A onceCloseListener closes its listener once, whether Serve, the stop
// hook or the release closes it first.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
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
	return multierr.Append(err, h.closeListener())
}

// closeListener closes the listener, once; Serve may have closed it.
func (h *httpServer) closeListener() error {
	if err := h.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
