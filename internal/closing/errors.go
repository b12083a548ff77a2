// Package closing holds what the Close(ctx) of pool.Pool and handles.Cache
// share: the close errors kept for Close to return, the wait for the
// holders that ends when Close's context does, the panic of a user callback
// caught on a goroutine of their own, and the throttle of their reports.
package closing

import (
	"fmt"
	"log/slog"
)

// Max is how many errors an [Errors] keeps; later ones are only counted.
const Max = 16

// Errors holds the close errors that no handler or logger has seen, for
// their owner's Close(ctx) to return: the first [Max] of them and a count of
// the rest, so that a long outage cannot grow it without bound. The zero
// Errors is empty. It is not safe for concurrent use: its owner's lock
// protects it.
type Errors struct {
	errs  []error
	extra int
	final bool // TakeFinal was called: nothing will Take again
}

// Add keeps err, or counts it when Max errors are kept already.
func (k *Errors) Add(err error) {
	if len(k.errs) < Max {
		k.errs = append(k.errs, err)
	} else {
		k.extra++
	}
}

// Take empties k and returns what it held, followed by an error that counts
// the ones not kept, if any: "pkg: N more what (not kept)".
func (k *Errors) Take(pkg, what string) []error {
	errs := k.errs
	if k.extra > 0 {
		errs = append(errs, fmt.Errorf("%s: %d more %s (not kept)", pkg, k.extra, what))
	}
	*k = Errors{}
	return errs
}

// TakeFinal is Take for the last time: the Close that calls it returns
// what it took, and no later Close will take again.
func (k *Errors) TakeFinal(pkg, what string) []error {
	errs := k.Take(pkg, what)
	k.final = true
	return errs
}

// Keep keeps err for Close to return, and returns nil. Once TakeFinal was
// called nothing would ever return err, so Keep keeps nothing and returns
// the func that logs err to slog.Default instead, for the caller to call
// once it has let go of its lock: a failure is reported, not kept where
// nobody looks.
func (k *Errors) Keep(pkg string, err error) (log func()) {
	if !k.final {
		k.Add(err)
		return nil
	}
	return func() { slog.Default().Error(pkg+": error after Close returned", "error", err) }
}
