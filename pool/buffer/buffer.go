package buffer

import (
	"io"
	"math"
)

// A Buffer is a variable-sized byte buffer borrowed from a [Pool]:
// write to it, read what was written with Bytes, String or WriteTo, and give
// it back with Close, typically with defer or a Scope's DeferClose.
//
// A Buffer belongs to one holder at a time and, like [bytes.Buffer], is not
// safe for concurrent use. After Close it belongs to the pool: every method
// but Close then panics with "buffer: Buffer used after Close", and a second
// Close panics with "buffer: Buffer closed twice". Those checks cost one
// comparison and catch a misuse for as long as the pool has not handed the
// Buffer out again; a Buffer that went to a new holder cannot be told apart
// from that holder's own. [PoisonOnClose] closes that gap for tests: a
// closed Buffer is then never handed out again, so every late use panics.
//
// The zero Buffer is an empty buffer that belongs to no pool; its Close
// discards it.
type Buffer struct {
	buf   []byte
	pool  *Pool     // nil for a Buffer made without a pool
	shard *bufShard // the shard counting this buffer; nil without a pool
	acct  *parking  // cleanup argument of a pooled buffer; nil if unpooled
	state bufState
}

type bufState uint8

const (
	bufLent   bufState = iota // held by a caller of Get
	bufParked                 // in the pool, waiting for a Get
	bufClosed                 // discarded, or retired by poisoning
)

var (
	_ io.Writer       = (*Buffer)(nil)
	_ io.StringWriter = (*Buffer)(nil)
	_ io.ReaderFrom   = (*Buffer)(nil)
	_ io.WriterTo     = (*Buffer)(nil)
	_ io.Closer       = (*Buffer)(nil)
)

// bufMinRead is the free space ReadFrom makes before each Read, as in bytes.Buffer.
const bufMinRead = 512

// Write appends p to the buffer, growing it as needed. It always returns
// len(p), nil.
func (b *Buffer) Write(p []byte) (int, error) {
	b.check()
	if cap(b.buf)-len(b.buf) < len(p) {
		b.grow(len(p))
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// WriteString appends s to the buffer, growing it as needed. It always
// returns len(s), nil.
func (b *Buffer) WriteString(s string) (int, error) {
	b.check()
	if cap(b.buf)-len(b.buf) < len(s) {
		b.grow(len(s))
	}
	b.buf = append(b.buf, s...)
	return len(s), nil
}

// ReadFrom appends what it reads from r until io.EOF, growing the buffer as
// needed, and returns the number of bytes read. io.EOF is not returned; any
// other error from r is, with the bytes read before it kept.
func (b *Buffer) ReadFrom(r io.Reader) (int64, error) {
	b.check()
	var total int64
	for {
		if cap(b.buf)-len(b.buf) < bufMinRead {
			b.grow(bufMinRead)
		}
		free := b.buf[len(b.buf):cap(b.buf)]
		n, err := r.Read(free)
		if n < 0 || n > len(free) {
			panic("buffer: Buffer.ReadFrom: reader returned an invalid count")
		}
		b.buf = b.buf[:len(b.buf)+n]
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// WriteTo writes the buffer's contents to w and returns the number of bytes
// written. Unlike [bytes.Buffer.WriteTo] it does not consume them: the
// buffer is unchanged, so the same contents can be written again, and Reset
// empties it. A short write without an error from w is reported as
// [io.ErrShortWrite].
func (b *Buffer) WriteTo(w io.Writer) (int64, error) {
	b.check()
	n, err := w.Write(b.buf)
	if n < 0 || n > len(b.buf) {
		panic("buffer: Buffer.WriteTo: writer returned an invalid count")
	}
	if err == nil && n < len(b.buf) {
		err = io.ErrShortWrite
	}
	return int64(n), err
}

// Bytes returns the buffer's contents. The slice aliases the buffer: it is
// valid only until the next write, Reset or Close, and must not be kept
// after Close, since the memory then goes to another holder.
func (b *Buffer) Bytes() []byte {
	b.check()
	return b.buf
}

// String returns a copy of the buffer's contents as a string.
func (b *Buffer) String() string {
	b.check()
	return string(b.buf)
}

// Len returns the number of bytes in the buffer.
func (b *Buffer) Len() int {
	b.check()
	return len(b.buf)
}

// Reset empties the buffer and keeps its capacity for the next writes.
func (b *Buffer) Reset() {
	b.check()
	b.buf = b.buf[:0]
}

// Close gives the buffer back to its pool and returns nil. The pool keeps it
// for a later Get if its capacity is at most the pool's [MaxSize] and
// the pool's [MaxRetained] budget has room; otherwise the buffer is
// discarded, counted as a drop. With [ZeroOnClose] or [PoisonOnClose] the
// memory is overwritten first, whether it is kept or discarded.
//
// Close on a Buffer already closed panics with "buffer: Buffer closed twice"
// (see [Buffer] for when that is detected).
func (b *Buffer) Close() error {
	if b.state != bufLent {
		panic("buffer: Buffer closed twice")
	}
	if b.pool == nil {
		b.state = bufClosed
		b.buf = nil
		return nil
	}
	b.pool.put(b)
	return nil
}

func (b *Buffer) check() {
	if b.state != bufLent {
		panic("buffer: Buffer used after Close")
	}
}

// grow makes room for n more bytes. The new capacity is at least twice the
// old one, rounded up to a power of two, so that the buffer fits its new size
// class exactly when it is closed.
func (b *Buffer) grow(n int) {
	old := b.buf
	if n > math.MaxInt-len(old) {
		panic("buffer: Buffer too large")
	}
	want := len(old) + n
	if double := 2 * cap(old); double > want {
		want = double
	}
	nb := make([]byte, len(old), roundCap(want))
	copy(nb, old)
	b.buf = nb
	// The old array is garbage now, but a secret in it would stay in memory
	// until the collector reuses it; overwrite it as Close would.
	if p := b.pool; p != nil && p.scrubbing {
		p.scrub(old[:cap(old)])
	}
}
