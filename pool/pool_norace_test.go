//go:build !race

package pool_test

// poolRace reports whether the race detector is on: it makes sync.Pool
// drop what it is given at random (the Pool's recycled waiters, the
// ObjectPool's values), so allocation counts do not hold.
const poolRace = false
