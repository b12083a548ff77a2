package retry

import (
	"math/rand/v2"
	"time"
)

// A Backoff yields the delays of a [Policy], one after another: the delay
// before the second attempt, then before the third, and so on without end.
// It is what [Do] sleeps on, exposed for callers that pace something other
// than a function call, such as a pool reopening a connection after its
// constructor failed.
//
// A Backoff is a small value: copy it to fork the sequence. It is not safe
// for concurrent use. The arithmetic saturates: a delay is never negative
// and never longer than the policy's MaxDelay, whatever the multiplier or
// the number of delays taken.
type Backoff struct {
	initial time.Duration // 0 for NoDelay
	max     time.Duration
	mult    float64
	jitter  Jitter
	rnd     *rand.Rand // nil: the global source

	exp  time.Duration // the next delay before jitter; 0 until the first Next
	prev time.Duration // the previous delay, for DecorrelatedJitter
}

// Backoff returns a Backoff that yields p's delays, or the error that [Do]
// would return for an invalid p.
func (p Policy) Backoff() (Backoff, error) {
	if err := p.check(); err != nil {
		return Backoff{}, err
	}
	var b Backoff
	p.setBackoff(&b)
	return b, nil
}

// Next returns the next delay.
func (b *Backoff) Next() time.Duration {
	if b.initial == 0 {
		return 0
	}
	if b.exp == 0 {
		b.exp = b.initial
		b.prev = b.initial
	} else if b.exp < b.max {
		// Compared in floats, which saturate at +Inf: the product never wraps.
		if next := float64(b.exp) * b.mult; next < float64(b.max) {
			b.exp = time.Duration(next)
		} else {
			b.exp = b.max
		}
	}
	switch b.jitter {
	case FullJitter:
		return b.randN(b.exp)
	case EqualJitter:
		half := b.exp / 2
		return b.exp - half + b.randN(half)
	case DecorrelatedJitter:
		hi := b.max
		if b.prev <= b.max/3 {
			hi = b.prev * 3
		}
		d := b.initial
		if hi > d {
			d += b.randN(hi - d + 1)
		}
		b.prev = d
		return d
	default:
		return b.exp
	}
}

// Reset starts the sequence over, as after a success.
func (b *Backoff) Reset() {
	b.exp, b.prev = 0, 0
}

// cap limits a delay asked for from outside the sequence, such as a
// retry-after hint, to the policy's bounds.
func (b *Backoff) cap(d time.Duration) time.Duration {
	return max(0, min(d, b.max))
}

// randN returns a uniform random duration in [0, n), or 0 if n <= 0.
func (b *Backoff) randN(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	if b.rnd != nil {
		return time.Duration(b.rnd.Int64N(int64(n)))
	}
	return time.Duration(rand.Int64N(int64(n)))
}
