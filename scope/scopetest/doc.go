// Package scopetest binds scopes to tests: a Scope closed when the test ends,
// whose cleanup errors fail the test, and leak checks for a whole test run
// and for one test.
//
//	func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }
//
//	func TestCopy(t *testing.T) {
//		s := scopetest.New(t)
//		f, err := os.Open(name)
//		require.NoError(t, err)
//		s.DeferClose(f) // closed at the end of the test; a Close error fails it
//	}
//
// [VerifyTestMain] fails the run for goroutines still running, Scopes
// collected with cleanups pending, pool leases and handles references
// dropped or still held, and file descriptors left open; [CheckLeaks] fails
// one test for what it leaked. Dropped resources are found through
// runtime.AddCleanup, once the garbage collector has found them
// unreachable: both run the collector before they report.
package scopetest
