package buffer

import (
	"errors"
	"io"
	"math"
	"unicode/utf8"
)

// ErrClosed is returned by [Buffer.Close] when the Buffer was already
// closed, through this copy or another, and by Close of the zero Buffer.
var ErrClosed = errors.New("buffer: Buffer already closed")

// A Buffer is a variable-sized byte buffer borrowed from a [Pool], with the
// methods of [bytes.Buffer] for writing and reading: write to it, read
// what was written with Read, WriteTo, Bytes or String, and give it back
// with Close, typically with defer or a Scope's DeferClose.
//
// A Buffer is a small value, a pointer to the memory and the number of the
// loan, that may be copied; the copies stand for the same loan. Once it is
// closed, through any copy, it can never reach the memory again, even
// after the pool lent the memory to someone else: every method but Close
// then panics with "buffer: Buffer used after Close", and a second Close
// returns [ErrClosed] and changes nothing. The zero Buffer behaves as one
// closed. See the package doc for the rule.
//
// A Buffer belongs to one holder at a time and, like [bytes.Buffer], is not
// safe for concurrent use.
//
// Converting a Buffer to an interface (io.Writer, io.Reader) allocates,
// as it is larger than a pointer; call its methods directly on hot paths.
type Buffer struct {
	m   *bufMem
	gen uint64 // m.gen when the loan started
}

// bufMem is the memory a Buffer stands for, and the pool's record of it.
// It is recycled with the memory; gen tells each loan from the others.
type bufMem struct {
	buf   []byte
	off   int    // read offset: buf[off:] is unread
	gen   uint64 // odd while lent; bumped by Get and Close
	pool  *Pool
	shard *bufShard // the shard counting this buffer
	acct  *parking  // the argument of its cleanup
	// peek receives ReadFrom's first bytes when the buffer is full, so
	// that a reader with exactly as many bytes as were asked for does not
	// grow it into the next size class.
	peek [16]byte
}

var (
	_ io.Writer       = Buffer{}
	_ io.StringWriter = Buffer{}
	_ io.ByteWriter   = Buffer{}
	_ io.ReaderFrom   = Buffer{}
	_ io.Reader       = Buffer{}
	_ io.WriterTo     = Buffer{}
	_ io.Closer       = Buffer{}
)

// bufMinRead is the free space ReadFrom makes before each Read, as in bytes.Buffer.
const bufMinRead = 512

// mem returns b's memory, and panics if b is closed.
func (b Buffer) mem() *bufMem {
	m := b.m
	if m == nil || m.gen != b.gen {
		panic("buffer: Buffer used after Close")
	}
	return m
}

// Write appends p to the buffer, growing it as needed. It always returns
// len(p), nil.
func (b Buffer) Write(p []byte) (int, error) {
	m := b.mem()
	if cap(m.buf)-len(m.buf) < len(p) {
		m.grow(len(p))
	}
	m.buf = append(m.buf, p...)
	return len(p), nil
}

// WriteString appends s to the buffer, growing it as needed. It always
// returns len(s), nil.
func (b Buffer) WriteString(s string) (int, error) {
	m := b.mem()
	if cap(m.buf)-len(m.buf) < len(s) {
		m.grow(len(s))
	}
	m.buf = append(m.buf, s...)
	return len(s), nil
}

// WriteByte appends c to the buffer. It always returns nil.
func (b Buffer) WriteByte(c byte) error {
	m := b.mem()
	if len(m.buf) == cap(m.buf) {
		m.grow(1)
	}
	m.buf = append(m.buf, c)
	return nil
}

// WriteRune appends the UTF-8 encoding of r to the buffer and returns its
// length. It always returns a nil error.
func (b Buffer) WriteRune(r rune) (int, error) {
	m := b.mem()
	if cap(m.buf)-len(m.buf) < utf8.UTFMax {
		m.grow(utf8.UTFMax)
	}
	n := len(m.buf)
	m.buf = utf8.AppendRune(m.buf, r)
	return len(m.buf) - n, nil
}

// ReadFrom appends what it reads from r until io.EOF, growing the buffer as
// needed, and returns the number of bytes read. io.EOF is not returned; any
// other error from r is, with the bytes read before it kept. A buffer with
// room for all r has does not grow: Get(n) then ReadFrom of n bytes stays
// in n's size class.
func (b Buffer) ReadFrom(r io.Reader) (int64, error) {
	m := b.mem()
	var total int64
	for {
		free := m.buf[len(m.buf):cap(m.buf)]
		if len(free) == 0 {
			// Full: look for more before growing.
			free = m.peek[:]
		}
		n, err := r.Read(free)
		if n < 0 || n > len(free) {
			panic("buffer: Buffer.ReadFrom: reader returned an invalid count")
		}
		if &free[0] == &m.peek[0] {
			if n > 0 {
				m.grow(max(n, bufMinRead))
				m.buf = append(m.buf, m.peek[:n]...)
			}
		} else {
			m.buf = m.buf[:len(m.buf)+n]
		}
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Read reads the next len(p) bytes from the buffer, or until it is empty,
// and returns the number read. When the buffer has nothing unread and p is
// not empty, it returns io.EOF. Once everything written has been read, the
// buffer is empty again, with its capacity.
func (b Buffer) Read(p []byte) (int, error) {
	m := b.mem()
	if m.off == len(m.buf) {
		m.reset()
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, m.buf[m.off:])
	m.off += n
	return n, nil
}

// WriteTo writes the unread contents of the buffer to w and returns the
// number of bytes written. As in [bytes.Buffer], what it wrote is read: a
// Buffer can feed io.Copy or a request body. A short write without an error
// from w is reported as [io.ErrShortWrite].
func (b Buffer) WriteTo(w io.Writer) (int64, error) {
	m := b.mem()
	unread := m.buf[m.off:]
	n, err := w.Write(unread)
	if n < 0 || n > len(unread) {
		panic("buffer: Buffer.WriteTo: writer returned an invalid count")
	}
	m.off += n
	if err == nil && n < len(unread) {
		err = io.ErrShortWrite
	}
	if m.off == len(m.buf) {
		m.reset()
	}
	return int64(n), err
}

// Bytes returns the unread contents of the buffer. The slice aliases the
// buffer: it is valid only until the next write, read, Reset or Close, and
// must not be kept after Close, since the memory then goes to another
// holder.
func (b Buffer) Bytes() []byte {
	m := b.mem()
	return m.buf[m.off:]
}

// AvailableBuffer returns an empty slice with the buffer's free capacity,
// to append to and pass to the next Write, as with [bytes.Buffer]. It is
// valid only until the next call on the buffer.
func (b Buffer) AvailableBuffer() []byte {
	m := b.mem()
	return m.buf[len(m.buf):]
}

// String returns a copy of the unread contents as a string.
func (b Buffer) String() string {
	m := b.mem()
	return string(m.buf[m.off:])
}

// Len returns the number of unread bytes in the buffer.
func (b Buffer) Len() int {
	m := b.mem()
	return len(m.buf) - m.off
}

// Cap returns the capacity of the buffer's memory.
func (b Buffer) Cap() int {
	return cap(b.mem().buf)
}

// Available returns how many bytes can be written without growing.
func (b Buffer) Available() int {
	m := b.mem()
	return cap(m.buf) - len(m.buf)
}

// Grow makes room for at least n more bytes without another allocation.
// It panics if n is negative.
func (b Buffer) Grow(n int) {
	m := b.mem()
	if n < 0 {
		panic("buffer: Buffer.Grow with a negative count")
	}
	if cap(m.buf)-len(m.buf) < n {
		m.grow(n)
	}
}

// Truncate discards all but the first n unread bytes. It panics if n is
// negative or greater than Len.
func (b Buffer) Truncate(n int) {
	m := b.mem()
	if n == 0 {
		m.reset()
		return
	}
	if n < 0 || n > len(m.buf)-m.off {
		panic("buffer: Buffer.Truncate out of range")
	}
	m.buf = m.buf[:m.off+n]
}

// Reset empties the buffer and keeps its capacity for the next writes.
func (b Buffer) Reset() {
	b.mem().reset()
}

func (m *bufMem) reset() {
	m.buf = m.buf[:0]
	m.off = 0
}

// Close gives the buffer back to its pool and returns nil. The pool keeps it
// for a later Get if its capacity is at most the pool's [MaxSize] and
// the pool's [MaxRetained] budget has room; otherwise the buffer is
// discarded, counted as a drop. With [ZeroOnClose] or [PoisonOnClose] the
// memory is overwritten first, whether it is kept or discarded.
//
// Close of a Buffer already closed, through any copy, returns [ErrClosed]
// and does nothing, even after the pool lent the memory to someone else.
func (b Buffer) Close() error {
	m := b.m
	if m == nil || m.gen != b.gen {
		return ErrClosed
	}
	m.gen++
	m.pool.put(m)
	return nil
}

// grow makes room for n more bytes. The new capacity is at least twice the
// old one, rounded up to a power of two, so that the buffer fits its new size
// class exactly when it is closed. Read bytes are dropped on the way.
func (m *bufMem) grow(n int) {
	old := m.buf
	unread := old[m.off:]
	if n > math.MaxInt-len(unread) {
		panic("buffer: Buffer too large")
	}
	want := len(unread) + n
	if double := 2 * cap(old); double > want {
		want = double
	}
	nb := make([]byte, len(unread), roundCap(want))
	copy(nb, unread)
	m.buf, m.off = nb, 0
	// The old array is garbage now, but a secret in it would stay in memory
	// until the collector reuses it; overwrite it as Close would.
	if p := m.pool; p != nil && p.scrubbing {
		p.scrub(old[:cap(old)])
	}
}
