package scope

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/reclaim-go/reclaim/internal/stack"
)

// ErrCleanupTimeout is wrapped by the error of a context cleanup that did not
// return within its [CleanupTimeout].
var ErrCleanupTimeout = errors.New("scope: cleanup overran its deadline")

// CleanupError is the error of one cleanup, together with the cleanup's name
// and, when the scope records sites ([RecordSites]), where it was registered.
// Close returns a *CleanupError in place of the cleanup's own error when sites
// are recorded, and always for a cleanup that overran its [CleanupTimeout].
// [errors.Is] and [errors.As] see through it to the cleanup's error.
type CleanupError struct {
	// Err is what the cleanup returned.
	Err error
	// Cleanup names the cleanup: the function, or "(T).Close" for an
	// io.Closer of type T.
	Cleanup string
	// Site is the "file:line" where the cleanup was registered, or "" when
	// sites were not recorded.
	Site string
}

// Error reports the cleanup, its site and its error on one line.
func (e *CleanupError) Error() string {
	var b strings.Builder
	b.WriteString("scope: cleanup ")
	b.WriteString(e.Cleanup)
	if e.Site != "" {
		b.WriteString(" registered at ")
		b.WriteString(e.Site)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cleanup's error.
func (e *CleanupError) Unwrap() error { return e.Err }

// annotate wraps err in a *CleanupError when the entry knows its site.
func annotate(e *entry, err error) error {
	if err == nil || e.pc == 0 {
		return err
	}
	site, _ := stack.Site(e.pc)
	return &CleanupError{Err: err, Cleanup: cleanupName(e.c), Site: site}
}

func timeoutError(e *entry, d time.Duration) error {
	site, _ := stack.Site(e.pc)
	return &CleanupError{
		Err:     fmt.Errorf("%w (%v): %w", ErrCleanupTimeout, d, context.DeadlineExceeded),
		Cleanup: cleanupName(e.c),
		Site:    site,
	}
}

// cleanupName names a cleanup for error messages: the function for the
// func-shaped registrations, the method for an io.Closer.
func cleanupName(c io.Closer) string {
	var fn any
	switch f := c.(type) {
	case closeFunc:
		fn = (func() error)(f)
	case voidFunc:
		fn = (func())(f)
	case ctxFunc:
		fn = (func(context.Context) error)(f)
	default:
		return fmt.Sprintf("(%T).Close", c)
	}
	if f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()); f != nil {
		return f.Name()
	}
	return "?"
}

// misuseError is the panic value of a misuse that would otherwise lose the
// cleanups' errors: the message names the mistake, Unwrap returns the errors.
type misuseError struct {
	msg string
	err error
}

func (e *misuseError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + "; cleanup errors: " + e.err.Error()
}

func (e *misuseError) Unwrap() error { return e.err }
