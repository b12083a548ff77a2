package pool

import (
	"errors"
	"fmt"
	"strings"
)

// ErrClosed is returned by operations on a pool or cache that has been closed.
var ErrClosed = errors.New("pool: closed")

// keptErrors holds close errors that no handler or logger has seen, for the
// owner's Close(ctx) to return: the first maxKeptErrors of them, and a count
// of the rest, so that a long outage cannot grow it without bound. The
// owner's lock protects it.
type keptErrors struct {
	errs  []error
	extra int
}

const maxKeptErrors = 16

func (k *keptErrors) add(err error) {
	if len(k.errs) < maxKeptErrors {
		k.errs = append(k.errs, err)
	} else {
		k.extra++
	}
}

// take empties k and returns what it held, followed by an error that counts
// the ones not kept, if any, naming them as what ("handle close errors").
func (k *keptErrors) take(what string) []error {
	errs := k.errs
	if k.extra > 0 {
		errs = append(errs, fmt.Errorf("pool: %d more %s (not kept)", k.extra, what))
	}
	*k = keptErrors{}
	return errs
}

// writeAcquiredAt ends a late holder's error with where it acquired what it
// holds, or with the setting that would have recorded it.
func writeAcquiredAt(b *strings.Builder, trace, setting string) {
	if trace == "" {
		b.WriteString(" (acquire stack not recorded: set " + setting + ")")
		return
	}
	b.WriteString(", acquired at:\n")
	b.WriteString(strings.TrimSuffix(trace, "\n"))
}
