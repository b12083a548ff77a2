package pool

import "errors"

// ErrClosed is returned by operations on a pool or cache that has been closed.
var ErrClosed = errors.New("pool: closed")
