//go:build !race

package pool_test

// bufferRace reports whether the race detector is on; see race_buffer_test.go.
const bufferRace = false
