//go:build amd64 || arm64

package goid

const known = true

// getg returns the runtime's g pointer of the calling goroutine.
//
//go:noescape
func getg() uintptr
