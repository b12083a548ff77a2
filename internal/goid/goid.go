// Package goid identifies the calling goroutine cheaply, so that a Scope can
// tell a Close called from one of its own cleanups (which must not wait for
// itself) from a Close called by another goroutine (which must wait).
//
// Go has no goroutine identity in its API, and parsing runtime.Stack costs
// microseconds, too much to pay on every Close. [Current] reads the runtime's
// pointer to the running goroutine instead: two instructions where assembly
// for the architecture is provided (amd64, arm64), and 0, meaning "unknown",
// elsewhere. The value is only compared, never dereferenced, and a
// goroutine's descriptor is reused only after the goroutine has exited.
package goid

// Known reports whether [Current] identifies goroutines on this architecture.
const Known = known

// Current returns a value that differs between goroutines alive at the same
// time, or 0 when the architecture is not supported.
func Current() uintptr { return getg() }
