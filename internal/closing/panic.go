package closing

import (
	"fmt"
	"runtime/debug"
)

// PanicError is a panic, or a runtime.Goexit, of a user callback. pool and
// handles export it under their own names; see their package docs for
// where it is delivered.
type PanicError struct {
	// Callback names the callback, as in "Config.Open".
	Callback string
	// Value is what the callback passed to panic (a *runtime.PanicNilError
	// for panic(nil)); nil when it called runtime.Goexit.
	Value any
	// Goexit is set when the callback called runtime.Goexit.
	Goexit bool
	// Stack is the stack of the goroutine when the callback panicked.
	Stack string
}

// Error describes the panic and where it happened.
func (e *PanicError) Error() string {
	if e.Goexit {
		return fmt.Sprintf("%s called runtime.Goexit", e.Callback)
	}
	return fmt.Sprintf("%s panicked: %v\n\n%s", e.Callback, e.Value, e.Stack)
}

// Unwrap returns the panic value when it is an error, so that errors.Is
// and errors.As see through to it.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Guard runs fn on the calling goroutine and returns nil if it returned,
// or a *PanicError naming callback if it panicked. It recovers the panic.
// A Goexit of fn is not stopped: Guard's caller must run it on a goroutine
// it can lose, see [GuardGoexit].
func Guard(callback string, fn func()) (pe *PanicError) {
	normal := false
	defer func() {
		if normal {
			return
		}
		if v := recover(); v != nil {
			pe = &PanicError{Callback: callback, Value: v, Stack: string(debug.Stack())}
		}
	}()
	fn()
	normal = true
	return nil
}

// GuardGoexit runs fn on a goroutine of its own and waits for it: it
// returns nil if fn returned, and a *PanicError if it panicked or called
// runtime.Goexit. It is for callbacks that run on goroutines a package
// started itself, which must survive whatever the callback does; the
// extra goroutine is the price of surviving a Goexit, which cannot be
// stopped.
func GuardGoexit(callback string, fn func()) *PanicError {
	var pe *PanicError
	done := make(chan struct{})
	go func() {
		normal := false
		defer close(done)
		defer func() {
			if normal || pe != nil {
				return
			}
			// Since Go 1.21, recover returns a *runtime.PanicNilError for
			// panic(nil): nil means Goexit.
			pe = &PanicError{Callback: callback, Goexit: true}
		}()
		pe = Guard(callback, fn)
		normal = true
	}()
	<-done
	return pe
}
