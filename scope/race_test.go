//go:build race

package scope_test

// raceEnabled: the race detector changes allocation counts, which are only
// checked without it.
const raceEnabled = true
