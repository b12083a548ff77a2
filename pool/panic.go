package pool

import "github.com/reclaim-go/reclaim/internal/closing"

// PanicError is a panic, or a call of runtime.Goexit, of a callback of
// [Config] that ran on a goroutine the pool started itself: Open, or a
// Close made by the background goroutine. It carries the panic value and
// the stack where it happened; errors.As and errors.Is see through it to
// a value that is an error. See the package doc for where it goes. It is
// always used as a pointer.
type PanicError = closing.PanicError
