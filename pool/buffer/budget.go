package buffer

import (
	"runtime"
	"sync/atomic"
)

// The retained-bytes budget and the counters are kept in shards. Each buffer
// is assigned a shard, round robin, when it is made, and keeps it for life:
// a Get or a Close touches only its buffer's shard. sync.Pool keeps buffers
// on the P that returned them, so in steady state each P works with its own
// few buffers, and as long as no two Ps' buffers share a shard, the atomic
// operations of the hot path stay on cache lines no other core writes. One
// shared counter would make every core contend on each Get and Close: on two
// cores that more than doubled the cost of a pooled 1 KiB write. One shard
// per P is not enough either, since two Ps' buffers then share a shard half
// of the time; hence eight shards per P.
//
// Each shard may hold an equal share of the budget, so the bytes parked in
// the whole pool never exceed it. The price is that a shard can refuse a
// buffer while another still has room; shares are kept large enough for a
// few buffers of the largest size.
//
// A Get served from the pool does one atomic add, a Close that parks its
// buffer one compare-and-swap; each such operation costs about as much as
// the rest of a Get or a Close, so there is no room for more. The trick that
// allows it: every pooled buffer's capacity is exactly the size of its class
// (buffers are made at a class size and grow to powers of two), so the count
// of hits in a class is also the capacity those hits took out of the pool.
// The bytes parked are then what was ever parked minus what hits and the
// collector took out, and a hit needs to count only itself.
type bufShard struct {
	in             atomic.Int64  // capacity ever parked here; differences stay right if it wraps
	outSeen        atomic.Int64  // a past value of out(); see park
	collectedBytes atomic.Int64  // capacity of the parked buffers the collector freed
	collected      atomic.Uint64 // how many those were
	misses         atomic.Uint64 // Gets that made a buffer
	drops          atomic.Uint64 // Closes that discarded the buffer
	_              [64 - 48]byte
	hits           [numClasses]atomic.Uint64 // Gets served by a parked buffer, per class
	_              [64 - numClasses*8%64]byte
}

// out is the capacity taken out of the shard by hits in classes up to top
// and by the collector. Counters only grow, so a stale value is too small.
func (s *bufShard) out(top int) int64 {
	n := s.collectedBytes.Load()
	for c := 0; c <= top; c++ {
		n += int64(s.hits[c].Load()) << (minClassShift + c)
	}
	return n
}

// retained is the capacity parked in the shard. Read while buffers come and
// go, it may be off by the traffic during the reading.
func (s *bufShard) retained(top int) int64 {
	out := s.out(top) // first, so that a concurrent hit can only make it larger
	return s.in.Load() - out
}

// park reserves n bytes of the shard's share, limit, for a buffer about to be
// parked. It reports false, reserving nothing, when they do not fit.
//
// The compare-and-swap on in fails if any buffer was parked here since in
// was read, and the out it is checked against is a past value, never more
// than the truth: so after a successful park the bytes parked do not exceed
// limit. Summing out costs as much as the rest of a Close, so park checks
// first against outSeen, the last sum taken, and sums again only when that
// stale figure says the share is full: once per share's worth of parks.
func (s *bufShard) park(n, limit int64, top int) bool {
	for {
		in := s.in.Load()
		if in-s.outSeen.Load()+n > limit {
			out := s.out(top)
			s.outSeen.Store(out)
			if in-out+n > limit {
				return false
			}
		}
		if s.in.CompareAndSwap(in, in+n) {
			return true
		}
	}
}

// A parking is what the garbage-collection cleanup of a pooled Buffer needs
// to know. sync.Pool drops whatever it holds over two GC cycles without
// telling anyone, so each pooled Buffer carries a runtime.AddCleanup that
// gives its parked bytes back to the budget once the collector has freed it.
// The alternative, a counter that only grows on Close and shrinks on Get,
// would stay full of buffers long gone and refuse every new one for good.
//
// The parking is a separate object because a cleanup's argument must not
// keep the Buffer reachable.
type parking struct {
	shard *bufShard
	// bytes is the buffer's capacity while it is parked, 0 while it is lent
	// out or retired, so that a lent Buffer its holder drops is not
	// subtracted. Written by the buffer's owner; the runtime orders those
	// writes before the cleanup.
	bytes int64
	// Every Get and Close writes bytes: a cache line of its own keeps
	// buffers used on different cores from slowing each other down.
	_ [64 - 16]byte
}

// track registers the cleanup of a pooled buffer.
func (m *bufMem) track() {
	m.acct = &parking{shard: m.shard}
	runtime.AddCleanup(m, collectBuffer, m.acct)
}

// collectBuffer runs on the runtime's cleanup goroutine after a Buffer was freed.
func collectBuffer(p *parking) {
	if p.bytes != 0 {
		p.shard.collectedBytes.Add(p.bytes)
		p.shard.collected.Add(1)
	}
}
