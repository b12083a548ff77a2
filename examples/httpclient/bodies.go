package httpclient

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// countingTransport counts the response bodies it hands out and those that
// were closed: the attempts' contexts would end a forgotten body's
// connection anyway, so the server's connection count alone cannot tell
// that every body was closed.
type countingTransport struct {
	http.RoundTripper
	opened, closed atomic.Int64
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	t.opened.Add(1)
	resp.Body = &countedBody{ReadCloser: resp.Body, closed: &t.closed}
	return resp, nil
}

type countedBody struct {
	io.ReadCloser
	once   sync.Once
	closed *atomic.Int64
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.closed.Add(1) })
	return b.ReadCloser.Close()
}
