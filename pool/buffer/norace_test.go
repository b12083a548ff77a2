//go:build !race

package buffer_test

// bufferRace reports whether the race detector is on; see race_test.go.
const bufferRace = false
