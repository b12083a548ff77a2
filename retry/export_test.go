package retry

import "math/rand/v2"

// WithRand returns p drawing its jitter from rnd instead of the global
// source, so that tests can predict every delay.
func WithRand(p Policy, rnd *rand.Rand) Policy {
	p.rnd = rnd
	return p
}
