package retry

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// RetryAfter wraps err with a delay that the next attempt should wait, such
// as the one a server asks for in an HTTP Retry-After header (see
// [ParseRetryAfter]). The delay replaces the policy's next one, capped by
// MaxDelay, and the call still gives up rather than sleep past the context's
// deadline or MaxElapsed. The result's message is err's, and [errors.Is]
// and [errors.As] see err through it. RetryAfter(nil, d) is nil.
//
// Any error in the chain with a method RetryAfter() time.Duration is
// honoured the same way, so an API client's own error type can carry its
// delay without this wrapper.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, d: d}
}

type retryAfterError struct {
	err error
	d   time.Duration
}

func (e *retryAfterError) Error() string             { return e.err.Error() }
func (e *retryAfterError) Unwrap() error             { return e.err }
func (e *retryAfterError) RetryAfter() time.Duration { return e.d }

type retryAfterer interface{ RetryAfter() time.Duration }

// ParseRetryAfter parses the value of an HTTP Retry-After header (RFC 9110,
// section 10.2.3): either a number of seconds, or an HTTP-date, which is
// turned into the time left from now (0 for a date in the past). It
// reports false for an empty or malformed value. A number of seconds too
// large for a time.Duration saturates at the largest one.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if c := value[0]; '0' <= c && c <= '9' {
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < '0' || c > '9' {
				return 0, false
			}
		}
		secs, err := strconv.ParseUint(value, 10, 64)
		if err != nil || secs > math.MaxInt64/uint64(time.Second) {
			// Only an overflow gets here: the digits were checked.
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	}
	// The three formats of RFC 9110, section 5.6.7: IMF-fixdate, then the
	// obsolete RFC 850 and asctime formats, which recipients must accept.
	for _, layout := range [...]string{
		"Mon, 02 Jan 2006 15:04:05 GMT",
		"Monday, 02-Jan-06 15:04:05 GMT",
		"Mon Jan _2 15:04:05 2006",
	} {
		if t, err := time.Parse(layout, value); err == nil {
			return max(0, t.Sub(now)), true
		}
	}
	return 0, false
}
