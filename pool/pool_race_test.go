//go:build race

package pool_test

// poolRace reports whether the race detector is on: it makes sync.Pool
// drop recycled waiters at random, so allocation counts do not hold.
const poolRace = true
