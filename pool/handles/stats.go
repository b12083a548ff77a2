package handles

// Stats is a snapshot of a [Cache], returned by
// [Cache.Stats].
type Stats struct {
	// Handle status

	// Open is the number of handles open, being opened or being closed.
	Open int
	// Held is the number of open handles with at least one reference.
	Held int
	// Idle is the number of open handles without a reference, waiting to
	// be reused or closed.
	Idle int
	// Refs is the number of references returned by Get and not yet closed.
	Refs int

	// Counters

	// Hits is the total number of Gets served by a handle already open,
	// including Gets that waited for another Get's Open.
	Hits uint64
	// Misses is the total number of Gets that called Open.
	Misses uint64
	// OpenErrors is the total number of Opens that returned an error.
	OpenErrors uint64
	// IdleEvictions is the total number of handles closed because they
	// stayed idle for IdleTimeout.
	IdleEvictions uint64
	// MaxOpenEvictions is the total number of handles closed to respect
	// MaxOpen.
	MaxOpenEvictions uint64
	// MaxIdleEvictions is the total number of handles closed because more
	// than MaxIdle were idle.
	MaxIdleEvictions uint64
	// CloseErrors is the total number of errors returned by Close.
	CloseErrors uint64
	// Panics is the total number of panics and Goexits of Close on the
	// janitor, which no caller received (see [PanicError]).
	Panics uint64
}
