package buffer

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// A Pool lends [Buffer] values and takes them back. It keeps them in
// size classes, powers of two, one sync.Pool per class, so that a Get never
// receives twice its request rounded up to a power of two, or more. It
// bounds what it keeps: buffers larger than [MaxSize] are discarded on
// Close, and so is any buffer that would take the capacity parked in the pool
// over [MaxRetained].
//
// A zero Pool is ready to use with the default limits; [NewPool]
// makes one with options. All methods are safe for concurrent use. A
// Pool must not be copied after first use. It needs no closing: when
// it becomes unreachable the garbage collector reclaims it and its buffers.
type Pool struct {
	ready atomic.Bool // set once the fields below are
	mu    sync.Mutex  // serializes the lazy setup of a zero Pool

	cfg         bufferConfig
	scrubbing   bool       // cfg.zero || cfg.poison, for the hot path
	top         int        // the largest size class, classOf(cfg.maxSize)
	shards      []bufShard // see budget.go
	shardBudget int64      // the share of cfg.maxRetained each shard may park
	nextShard   atomic.Uint32

	classes [numClasses]sync.Pool // of *bufMem, parked
}

// Stats is a snapshot of a [Pool], returned by
// [Pool.Stats]. Taken while buffers come and go, its fields may each
// be off by the traffic during the reading.
type Stats struct {
	// Pool status

	// RetainedBytes is the capacity of the buffers parked in the pool,
	// waiting for a Get. It never exceeds MaxRetained. A parked buffer
	// that the garbage collector freed (see Collected) is subtracted when its
	// cleanup runs, shortly after the collection, so until then
	// RetainedBytes is an upper bound.
	RetainedBytes int64

	// Counters

	// Hits is the total number of Gets served by a parked buffer.
	Hits uint64
	// Misses is the total number of Gets that made a new buffer.
	Misses uint64
	// Drops is the total number of Closes that discarded the buffer instead
	// of parking it: its capacity was above MaxSize, or the budget had
	// no room for it.
	Drops uint64
	// Collected is the total number of parked buffers the garbage collector
	// took: sync.Pool lets go of what it holds over two collections.
	Collected uint64
}

// Defaults of a zero Pool and of NewPool without options.
const (
	defaultMaxSize     = 64 << 10
	defaultMaxRetained = 8 << 20
)

// How many shards a pool has; see budget.go.
const (
	shardsPerP      = 8
	maxShards       = 64
	minShareBuffers = 4 // buffers of MaxSize that a shard's share holds at least
)

const poisonByte = 0xDE

type bufferConfig struct {
	maxSize     int
	maxRetained int64
	zero        bool
	poison      bool
}

// An Option configures a Pool made by [NewPool]. Options
// apply in order; when two set the same thing, the last one wins.
type Option interface {
	applyBuffer(*bufferConfig)
}

type bufferOptionFunc func(*bufferConfig)

func (f bufferOptionFunc) applyBuffer(c *bufferConfig) { f(c) }

// MaxSize sets the capacity, in bytes, of the largest buffer the pool
// takes back; a larger one is discarded on Close, and a Get for more is
// served by a new buffer of exactly that size. It also sets the largest size
// class: n is rounded down to a power of two. n must be between 64 and
// 1 GiB. The default is 64 KiB.
func MaxSize(n int) Option {
	return bufferOptionFunc(func(c *bufferConfig) { c.maxSize = n })
}

// MaxRetained sets the budget of the pool: the total capacity, in bytes,
// of the buffers it keeps parked at any time. A Close that would exceed it
// discards the buffer. n must be at least the MaxSize. The default is
// 8 MiB.
//
// To keep Get and Close free of contention the budget is split into equal
// shares: eight per GOMAXPROCS, rounded up to a power of two, at most 64, and
// fewer if a share would hold less than four buffers of MaxSize. Each
// buffer counts against one share, and one that does not fit its share is
// discarded even if another share has room.
func MaxRetained(n int64) Option {
	return bufferOptionFunc(func(c *bufferConfig) { c.maxRetained = n })
}

// ZeroOnClose makes Close overwrite a buffer's whole capacity with zeros,
// whether the buffer is kept or discarded, and so does a Write that outgrows
// the buffer, for the array it leaves: no secret outlives its Buffer in this
// pool's memory. The cost is proportional to the capacity. Off by default.
func ZeroOnClose(on bool) Option {
	return bufferOptionFunc(func(c *bufferConfig) { c.zero = on })
}

// PoisonOnClose turns on the checks for using memory after Close, for tests
// and debugging: Close fills the buffer's memory with the byte 0xDE, so a
// slice kept from Bytes reads as 0xDE..., and a write through it is
// detected, with a panic, by the Get that would hand the memory out again.
// (A Buffer itself is checked in every mode: see [Buffer].)
//
// The default is off unless the environment variable RECLAIM_POISON is "1",
// "on" or "true" (read once, when the first pool is set up). The default
// applies to [Get]'s pool too, so a whole test run can be checked
// without changing code. PoisonOnClose takes precedence over [ZeroOnClose].
func PoisonOnClose(on bool) Option {
	return bufferOptionFunc(func(c *bufferConfig) { c.poison = on })
}

// envPoison reads RECLAIM_POISON once.
var envPoison = sync.OnceValue(func() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("RECLAIM_POISON"))) {
	case "1", "on", "true":
		return true
	}
	return false
})

func defaultBufferConfig() bufferConfig {
	return bufferConfig{
		maxSize:     defaultMaxSize,
		maxRetained: defaultMaxRetained,
		poison:      envPoison(),
	}
}

func (c *bufferConfig) validate() error {
	if c.maxSize < minClassSize || c.maxSize > 1<<maxClassShift {
		return fmt.Errorf("buffer: MaxSize must be between %d and %d bytes, got %d",
			minClassSize, 1<<maxClassShift, c.maxSize)
	}
	if c.maxRetained < int64(c.maxSize) {
		return fmt.Errorf("buffer: MaxRetained must be at least MaxSize (%d), got %d",
			c.maxSize, c.maxRetained)
	}
	return nil
}

// NewPool returns a Pool configured by opts. It returns an error
// naming the option when a limit is out of range.
func NewPool(opts ...Option) (*Pool, error) {
	cfg := defaultBufferConfig()
	for _, o := range opts {
		o.applyBuffer(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := new(Pool)
	p.setup(cfg)
	return p, nil
}

// setup fixes the pool's configuration. Caller must own p or hold p.mu.
func (p *Pool) setup(cfg bufferConfig) {
	p.top = classOf(cfg.maxSize)
	cfg.maxSize = classSize(p.top) // rounded down to a power of two
	p.cfg = cfg
	p.scrubbing = cfg.zero || cfg.poison
	n := 1
	for n < shardsPerP*runtime.GOMAXPROCS(0) && n < maxShards {
		n *= 2
	}
	for n > 1 && cfg.maxRetained/int64(n) < minShareBuffers*int64(cfg.maxSize) {
		n /= 2
	}
	p.shards = make([]bufShard, n)
	p.shardBudget = cfg.maxRetained / int64(n)
	p.ready.Store(true)
}

func (p *Pool) lazySetup() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ready.Load() {
		p.setup(defaultBufferConfig())
	}
}

// Get returns an empty Buffer with a capacity of at least sizeHint bytes,
// and less than twice sizeHint rounded up to a power of two (and at least
// 64). Writing, or reading with ReadFrom, sizeHint bytes then never grows
// it. The hint is only a hint: a hint above the pool's [MaxSize] gets a
// buffer of MaxSize, which grows as it is written, so no hint allocates
// more than MaxSize up front. A sizeHint of 0 asks for a small buffer that
// grows as it is written. Get allocates only when no parked buffer of the
// size is at hand. It panics if sizeHint is negative.
//
// The caller owns the Buffer until it calls [Buffer.Close].
func (p *Pool) Get(sizeHint int) Buffer {
	if sizeHint < 0 {
		panicNegativeHint(sizeHint)
	}
	if !p.ready.Load() {
		p.lazySetup()
	}
	c := min(classFor(sizeHint), p.top)
	var m *bufMem
	if v := p.classes[c].Get(); v != nil {
		m = v.(*bufMem)
		if p.cfg.poison {
			checkPoison(m.buf[:cap(m.buf)])
		}
		m.acct.bytes = 0
		m.shard.hits[c].Add(1)
	} else {
		m = p.newBuffer(classSize(c))
	}
	m.gen++
	return Buffer{m: m, gen: m.gen}
}

func panicNegativeHint(n int) {
	panic(fmt.Sprintf("buffer: Pool.Get with negative sizeHint %d", n))
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() Stats {
	if !p.ready.Load() {
		p.lazySetup()
	}
	var st Stats
	for i := range p.shards {
		s := &p.shards[i]
		for c := range s.hits {
			st.Hits += s.hits[c].Load()
		}
		st.Misses += s.misses.Load()
		st.Drops += s.drops.Load()
		st.Collected += s.collected.Load()
		st.RetainedBytes += s.retained(p.top)
	}
	return st
}

func (p *Pool) newBuffer(size int) *bufMem {
	s := &p.shards[int(p.nextShard.Add(1))%len(p.shards)]
	s.misses.Add(1)
	m := &bufMem{buf: make([]byte, 0, size), pool: p, shard: s}
	m.track()
	return m
}

// put parks m, just closed, for a later Get, or discards it.
func (p *Pool) put(m *bufMem) {
	n := cap(m.buf)
	if p.scrubbing {
		p.scrub(m.buf[:n])
	}
	c := classOf(n)
	if c > p.top {
		p.drop(m)
		return
	}
	if n != classSize(c) {
		// The shard's accounting counts a hit in class c as classSize(c) bytes.
		panic("bug: buffer: a pooled Buffer's capacity is not a class size")
	}
	if !m.shard.park(int64(n), p.shardBudget, p.top) {
		p.drop(m)
		return
	}
	m.buf, m.off = m.buf[:0], 0
	m.acct.bytes = int64(n)
	p.classes[c].Put(m)
}

func (p *Pool) drop(m *bufMem) {
	m.shard.drops.Add(1)
	m.buf, m.off = nil, 0
}

// scrub overwrites memory a Buffer lets go of, as the options ask.
func (p *Pool) scrub(mem []byte) {
	switch {
	case p.cfg.poison:
		for i := range mem {
			mem[i] = poisonByte
		}
	case p.cfg.zero:
		clear(mem)
	}
}

// checkPoison panics if parked memory was written since it was poisoned.
func checkPoison(mem []byte) {
	for i, c := range mem {
		if c != poisonByte {
			panic(fmt.Sprintf("buffer: Buffer memory written after Close (byte %d of %d); was a slice from Bytes kept?", i, len(mem)))
		}
	}
}

// defaultBuffers is the pool behind Get.
var defaultBuffers Pool

// Get returns an empty Buffer from the default pool, with a capacity of
// at least sizeHint bytes; see [Pool.Get]. The default pool has the
// default limits: buffers up to 64 KiB are kept, 8 MiB at most.
func Get(sizeHint int) Buffer { return defaultBuffers.Get(sizeHint) }

// Default returns the pool behind [Get], for its Stats.
func Default() *Pool { return &defaultBuffers }
