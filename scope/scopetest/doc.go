// Package scopetest binds scopes to tests: a Scope closed when the test ends,
// whose cleanup errors fail the test, and a check that fails a test when
// scopes it made leaked.
//
//	func TestCopy(t *testing.T) {
//		s := scopetest.New(t)
//		f, err := os.Open(name)
//		require.NoError(t, err)
//		s.DeferClose(f) // closed at the end of the test; a Close error fails it
//	}
//
// Leaks are found through runtime.AddCleanup, so [CheckLeaks] reports a
// Scope only once the garbage collector has found it unreachable; it runs the
// collector itself when the test ends.
package scopetest
