// Package require is a stand-in for testify's require.
package require

func NoError(t any, err error, msgAndArgs ...any)         {}
func ErrorIs(t any, err, target error, msgAndArgs ...any) {}
