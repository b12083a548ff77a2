package scope

import (
	"context"
	"io"
	"sync"
)

// An entry is one registered cleanup. Every registration is stored as an
// io.Closer: func-shaped cleanups are converted to func types with a Close
// method, which, like a pointer-shaped closer, fits in an interface without
// allocating. An entry is 32 bytes, so that the inline ones fit in 256.
type entry struct {
	c   io.Closer
	pc  uintptr // registration site, 0 unless sites are recorded
	tag uint64  // id<<2 | kind
}

func (e *entry) id() uint64 { return e.tag >> 2 }
func (e *entry) kind() kind { return kind(e.tag & 3) }

type kind uint8

const (
	kindAlways  kind = iota // runs on every close
	kindContext             // c is a ctxFunc, called with the close context
	kindFailure             // runs only when the scope closes as failed
)

type closeFunc func() error

func (f closeFunc) Close() error { return f() }

type voidFunc func()

func (f voidFunc) Close() error { f(); return nil }

type ctxFunc func(context.Context) error

func (f ctxFunc) Close() error { return f(context.Background()) }

// The pending cleanups of a Scope, oldest first, are inline[:ninl] followed
// by its chunks, from the oldest (the end of the prev links) to top.
//
// Keeping the first ones inline lets a Scope on the stack take a few
// registrations without allocating; a slice pointing into the Scope itself
// would make every Scope escape. Past them, cleanups go to fixed-size
// chunks linked together rather than to a slice that doubles: a
// registration never copies older entries, and the chunks go back to a
// pool as Close empties them, so that a steady workload of large scopes
// allocates nothing either. Chunks are filled at the top only; Cancel and
// Run take entries out of the middle (see takeLocked), which can leave
// chunks part-full, but never empty.
const (
	inlineEntries = 8
	chunkEntries  = 64 // 2 KiB of entries: one allocation per 64 cleanups, once
)

type chunk struct {
	prev *chunk // the next older chunk
	n    int    // e[:n] are in use
	e    [chunkEntries]entry
}

var chunks = sync.Pool{New: func() any { return new(chunk) }}

// freeChunk returns c, whose entries must all be zero, to the pool.
func freeChunk(c *chunk) {
	c.prev, c.n = nil, 0
	chunks.Put(c)
}

// appendLocked puts e on top of the stack. Inline entries are used only
// while the scope is open: while it closes, they belong to the unwinder.
// Caller must hold s.mu.
func (s *Scope) appendLocked(e entry) {
	if s.top == nil && s.ninl < inlineEntries && s.state == open {
		s.inline[s.ninl] = e
		s.ninl++
	} else {
		s.appendChunkLocked(e)
	}
	s.n++
}

func (s *Scope) appendChunkLocked(e entry) {
	c := s.top
	if c == nil || c.n == chunkEntries {
		c = chunks.Get().(*chunk)
		c.prev = s.top
		s.top = c
	}
	c.e[c.n] = e
	c.n++
}

// takeLocked removes the pending entry with the given id and returns it.
// Caller must hold s.mu.
//
// Ids grow with registration order, so every chunk, and the inline entries,
// are sorted by id. Chunks are searched from the top: the entries a Handle
// takes back are usually recent. Only the entries of one chunk move, and
// two neighbouring chunks that would fit in one are merged, so that chunks
// stay more than half full on average however entries are taken out.
func (s *Scope) takeLocked(id uint64) (entry, bool) {
	var newer, newer2 *chunk // the chunks above c, if any
	for c := s.top; c != nil; newer2, newer, c = newer, c, c.prev {
		if c.e[0].id() > id {
			continue
		}
		e, ok := remove(c.e[:c.n], id)
		if !ok {
			return entry{}, false
		}
		c.n--
		s.n--
		switch p := c.prev; {
		case c.n == 0:
			s.unlinkLocked(c, newer)
		case p != nil && p.n+c.n <= chunkEntries:
			copy(p.e[p.n:], c.e[:c.n])
			p.n += c.n
			clear(c.e[:c.n])
			s.unlinkLocked(c, newer)
		case newer != nil && c.n+newer.n <= chunkEntries:
			copy(c.e[c.n:], newer.e[:newer.n])
			c.n += newer.n
			clear(newer.e[:newer.n])
			s.unlinkLocked(newer, newer2)
		}
		s.noteLocked()
		return e, true
	}
	e, ok := remove(s.inline[:s.ninl], id)
	if ok {
		s.ninl--
		s.n--
		s.noteLocked()
	}
	return e, ok
}

// remove takes the entry with the given id out of es, sorted by id,
// moving the newer ones down and zeroing the last.
func remove(es []entry, id uint64) (entry, bool) {
	i := search(es, id)
	if i < 0 {
		return entry{}, false
	}
	e := es[i]
	copy(es[i:], es[i+1:])
	es[len(es)-1] = entry{}
	return e, true
}

// unlinkLocked takes the emptied chunk c out of the chain and frees it;
// newer is the chunk whose prev is c, nil if c is the top.
func (s *Scope) unlinkLocked(c, newer *chunk) {
	if newer == nil {
		s.top = c.prev
	} else {
		newer.prev = c.prev
	}
	freeChunk(c)
}

// search returns the index of the entry with the given id in es, sorted by
// id, or -1.
func search(es []entry, id uint64) int {
	lo, hi := 0, len(es)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if es[m].id() < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(es) && es[lo].id() == id {
		return lo
	}
	return -1
}

// drainLocked empties the stack, calling keep on each entry oldest first,
// and frees its chunks. Caller must hold s.mu.
func (s *Scope) drainLocked(keep func(entry)) {
	for i := range s.ninl {
		keep(s.inline[i])
	}
	clear(s.inline[:s.ninl])
	// Reverse the chain so that it runs oldest first.
	var bottom *chunk
	for c := s.top; c != nil; {
		p := c.prev
		c.prev, bottom = bottom, c
		c = p
	}
	for c := bottom; c != nil; {
		next := c.prev
		for _, e := range c.e[:c.n] {
			keep(e)
		}
		clear(c.e[:c.n])
		freeChunk(c)
		c = next
	}
	s.ninl, s.top, s.n = 0, nil, 0
	s.noteLocked()
}
