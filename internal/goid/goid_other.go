//go:build !amd64 && !arm64

package goid

const known = false

func getg() uintptr { return 0 }
