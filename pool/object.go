package pool

import "sync"

// An ObjectPool is a typed [sync.Pool] of *T with hooks to make and to reset
// values: the "pool my struct" case, without type assertions at every call
// and without handing the next user what the last one left behind.
//
// A zero ObjectPool is ready to use: it makes values with new(T) and resets
// them to the zero T. Set New and Reset before first use and do not change
// them afterwards. Get and Put are safe for concurrent use. An ObjectPool
// must not be copied after first use.
//
// Like sync.Pool, an ObjectPool may let go of any value it holds at any time
// (the garbage collector empties it over two cycles), so it suits values
// that are cheap to remake; bounded pools of costly resources are [Pool]'s
// job. Each *T must be Put at most once per Get: a value Put twice may go to
// two callers at once.
type ObjectPool[T any] struct {
	// New makes a value when the pool has none to hand out. It must not
	// return nil. Nil means new(T).
	New func() *T

	// Reset prepares a value given to Put for its next user and reports
	// whether it is worth keeping; a value for which it returns false is
	// left to the garbage collector. Return false for a value that grew
	// too large, so that one unusual request does not pin its memory in
	// the pool for every later one. Nil means setting the value to the
	// zero T and keeping it.
	//
	// Reset runs in Put, not in Get, so that a pooled value holds no
	// references to its last user's data while it waits.
	Reset func(*T) bool

	pool sync.Pool // of *T
}

// Get returns a value from the pool, or a new one made by New when the pool
// has none. The caller owns it until it calls Put.
func (p *ObjectPool[T]) Get() *T {
	if v := p.pool.Get(); v != nil {
		return v.(*T)
	}
	if p.New == nil {
		return new(T)
	}
	x := p.New()
	if x == nil {
		panic("pool: ObjectPool.New returned nil")
	}
	return x
}

// Put resets x with Reset and keeps it for a later Get, unless Reset
// reports that it is not worth keeping. Put(nil) does nothing. The caller
// must not use x after Put.
func (p *ObjectPool[T]) Put(x *T) {
	if x == nil {
		return
	}
	if p.Reset == nil {
		var zero T
		*x = zero
	} else if !p.Reset(x) {
		return
	}
	p.pool.Put(x)
}
