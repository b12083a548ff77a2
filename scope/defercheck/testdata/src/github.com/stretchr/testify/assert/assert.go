// Package assert is a stand-in for testify's assert.
package assert

func NoError(t any, err error, msgAndArgs ...any) bool { return err == nil }
