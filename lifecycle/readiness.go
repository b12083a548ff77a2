package lifecycle

import "net/http"

// Ready reports whether the group is ready to serve: Start has succeeded,
// and neither a drain ([Group.Run]) nor a stop has begun. Readiness flips
// to false once, before anything stops, and never back.
func (g *Group) Ready() bool { return g.ready.Load() }

// Readiness returns an HTTP handler for a readiness probe: it answers 200
// "ready" while [Group.Ready] is true and 503 "not ready" otherwise, before
// Start has succeeded and from the start of the drain on. Serve it next to
// the service's own routes, so that the probe fails before the listener
// closes:
//
//	mux.Handle("GET /readyz", g.Readiness())
func (g *Group) Readiness() http.Handler { return readiness{g} }

type readiness struct{ g *Group }

var _ http.Handler = readiness{}

func (h readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if h.g.Ready() {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ready\n"))
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte("not ready\n"))
}
