package buffer_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/pool/buffer"
	"github.com/reclaim-go/reclaim/scope"
)

// newPool makes a pool with opts and fails the test on error. Unless
// opts say otherwise it does not poison, whatever RECLAIM_POISON says, so
// that tests of reuse see the same *Buffer again.
func newPool(t testing.TB, opts ...buffer.Option) *buffer.Pool {
	t.Helper()
	p, err := buffer.NewPool(append([]buffer.Option{buffer.PoisonOnClose(false)}, opts...)...)
	require.NoError(t, err)
	return p
}

// pattern returns n bytes that differ from those of other seeds.
func bufPattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i>>8)
	}
	return b
}

func TestBufferWritesAppendAndGrow(t *testing.T) {
	p := newPool(t)
	b := p.Get(0)
	defer b.Close()

	want := bufPattern(1, 10_000)
	n, err := b.Write(want[:100])
	require.NoError(t, err)
	assert.Equal(t, 100, n)
	n, err = b.WriteString(string(want[100:5000]))
	require.NoError(t, err)
	assert.Equal(t, 4900, n)
	_, _ = fmt.Fprintf(b, "%s", want[5000:])

	assert.Equal(t, len(want), b.Len())
	assert.Equal(t, want, b.Bytes())
	assert.Equal(t, string(want), b.String())
	assert.Equal(t, 16384, cap(b.Bytes()), "grows to powers of two")

	b.Reset()
	assert.Equal(t, 0, b.Len())
	assert.Equal(t, 16384, cap(b.Bytes()), "Reset keeps the capacity")
	b.WriteString("again")
	assert.Equal(t, "again", b.String())
}

func TestBufferReadFromAndWriteToRealFiles(t *testing.T) {
	want := bufPattern(2, 300_000)
	src := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.WriteFile(src, want, 0o600))

	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	b := buffer.Get(1024)
	defer b.Close()
	n, err := io.Copy(b, in) // uses ReadFrom
	require.NoError(t, err)
	assert.EqualValues(t, len(want), n)
	assert.Equal(t, want, b.Bytes())

	dst := filepath.Join(t.TempDir(), "dst")
	out, err := os.Create(dst)
	require.NoError(t, err)
	defer out.Close()
	n, err = b.WriteTo(out)
	require.NoError(t, err)
	assert.EqualValues(t, len(want), n)
	require.NoError(t, out.Sync())
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, want, b.Bytes(), "WriteTo does not consume the contents")
}

func TestBufferReadsAConnectionToEOF(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	want := bufPattern(3, 200_000)
	sent := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sent <- err
			return
		}
		_, err = c.Write(want)
		sent <- errors.Join(err, c.Close())
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	b := buffer.Get(0)
	defer b.Close()
	n, err := b.ReadFrom(c)
	require.NoError(t, err, "io.EOF is not an error for ReadFrom")
	require.NoError(t, <-sent)
	assert.EqualValues(t, len(want), n)
	assert.Equal(t, want, b.Bytes())
}

// bufFailingReader returns its data, then err.
type bufFailingReader struct {
	data []byte
	err  error
}

func (r *bufFailingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestBufferReadFromKeepsWhatWasReadBeforeAnError(t *testing.T) {
	boom := errors.New("boom")
	b := buffer.Get(0)
	defer b.Close()
	b.WriteString("head:")
	n, err := b.ReadFrom(&bufFailingReader{data: []byte("body"), err: boom})
	assert.ErrorIs(t, err, boom)
	assert.EqualValues(t, 4, n)
	assert.Equal(t, "head:body", b.String())
}

// bufShortWriter accepts at most max bytes per Write, without an error.
type bufShortWriter struct{ max int }

func (w bufShortWriter) Write(p []byte) (int, error) { return min(len(p), w.max), nil }

func TestBufferWriteToReportsAShortWrite(t *testing.T) {
	b := buffer.Get(0)
	defer b.Close()
	b.WriteString("0123456789")
	n, err := b.WriteTo(bufShortWriter{max: 4})
	assert.ErrorIs(t, err, io.ErrShortWrite)
	assert.EqualValues(t, 4, n)
}

func TestZeroBufferWorksAndBelongsToNoPool(t *testing.T) {
	var b buffer.Buffer
	b.WriteString("hello, ")
	b.Write([]byte("world"))
	assert.Equal(t, "hello, world", b.String())
	require.NoError(t, b.Close())
	assert.PanicsWithValue(t, "buffer: Buffer used after Close", func() { b.Len() })
	assert.PanicsWithValue(t, "buffer: Buffer closed twice", func() { b.Close() })
}

func TestBufferUsedAfterClosePanics(t *testing.T) {
	const msg = "buffer: Buffer used after Close"
	uses := map[string]func(b *buffer.Buffer){
		"Write":       func(b *buffer.Buffer) { b.Write([]byte("x")) },
		"WriteString": func(b *buffer.Buffer) { b.WriteString("x") },
		"ReadFrom":    func(b *buffer.Buffer) { b.ReadFrom(bytes.NewReader(nil)) },
		"WriteTo":     func(b *buffer.Buffer) { b.WriteTo(io.Discard) },
		"Bytes":       func(b *buffer.Buffer) { b.Bytes() },
		"String":      func(b *buffer.Buffer) { _ = b.String() },
		"Len":         func(b *buffer.Buffer) { b.Len() },
		"Reset":       func(b *buffer.Buffer) { b.Reset() },
	}
	for name, use := range uses {
		t.Run(name, func(t *testing.T) {
			for _, poison := range []bool{false, true} {
				p := newPool(t, buffer.PoisonOnClose(poison))
				parked := p.Get(100)
				parked.Close()
				assert.PanicsWithValue(t, msg, func() { use(parked) }, "parked, poison=%v", poison)

				dropped := p.Get(1 << 20) // above MaxSize: discarded on Close
				dropped.Close()
				assert.PanicsWithValue(t, msg, func() { use(dropped) }, "dropped, poison=%v", poison)
			}
		})
	}
}

func TestBufferClosedTwicePanicsInEveryMode(t *testing.T) {
	const msg = "buffer: Buffer closed twice"
	for _, poison := range []bool{false, true} {
		p := newPool(t, buffer.PoisonOnClose(poison))
		parked := p.Get(100)
		require.NoError(t, parked.Close())
		assert.PanicsWithValue(t, msg, func() { parked.Close() }, "parked, poison=%v", poison)

		dropped := p.Get(1 << 20)
		require.NoError(t, dropped.Close())
		assert.PanicsWithValue(t, msg, func() { dropped.Close() }, "dropped, poison=%v", poison)

		// The pool still works, and the second Close did not park the
		// buffer a second time: two Gets never share it.
		a, b := p.Get(100), p.Get(100)
		assert.NotSame(t, a, b)
		a.Close()
		b.Close()
	}
}

func TestBufferIsAScopeCloser(t *testing.T) {
	p := newPool(t)
	var s scope.Scope
	b := p.Get(1000)
	s.DeferClose(b)
	b.WriteString("in use until the scope closes")
	require.NoError(t, s.Close())
	assert.PanicsWithValue(t, "buffer: Buffer used after Close", func() { b.Len() })
	assert.EqualValues(t, 1024, p.Stats().RetainedBytes, "the scope gave the buffer back")

	if bufferRace {
		return // sync.Pool drops Puts at random: misses allocate
	}
	allocs := testing.AllocsPerRun(100, func() {
		var s scope.Scope
		b := p.Get(1000)
		s.DeferClose(b)
		b.WriteString("no allocation")
		s.Close()
	})
	assert.Zero(t, allocs, "a *Buffer registers with a Scope without allocating")
}

func BenchmarkPoolGetWriteClose(b *testing.B) {
	data := bufPattern(4, 1024)
	p := newPool(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			buf := p.Get(len(data))
			buf.Write(data)
			buf.Close()
		}
	})
}
