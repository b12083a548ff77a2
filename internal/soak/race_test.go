//go:build race

package soak

// raceEnabled: CI's short soak runs under the race detector, which is where
// it finds the most.
const raceEnabled = true
