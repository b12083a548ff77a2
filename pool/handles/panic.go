package handles

import "github.com/reclaim-go/reclaim/internal/closing"

// PanicError is a panic, or a call of runtime.Goexit, of [Config].Close
// on the janitor, the cache's own goroutine. It carries the panic value
// and the stack where it happened; errors.As and errors.Is see through it
// to a value that is an error. It goes to the Logger, or else is kept for
// [Cache.Close] to return. It is always used as a pointer.
type PanicError = closing.PanicError
