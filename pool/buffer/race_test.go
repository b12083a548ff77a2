//go:build race

package buffer_test

// bufferRace reports whether the race detector is on. It makes sync.Pool
// drop one Put in four at random, so tests expect fewer hits and allow the
// allocations of the misses.
const bufferRace = true
