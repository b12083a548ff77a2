package buffer_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
	assert.Zero(t, b.Len(), "WriteTo consumes the contents, as bytes.Buffer's")
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

func TestZeroBufferIsClosed(t *testing.T) {
	var b buffer.Buffer
	assert.PanicsWithValue(t, "buffer: Buffer used after Close", func() { b.Len() })
	assert.ErrorIs(t, b.Close(), buffer.ErrClosed)
}

// bufferUses are the methods a closed Buffer must refuse.
var bufferUses = map[string]func(b buffer.Buffer){
	"Write":           func(b buffer.Buffer) { b.Write([]byte("x")) },
	"WriteString":     func(b buffer.Buffer) { b.WriteString("x") },
	"WriteByte":       func(b buffer.Buffer) { b.WriteByte('x') },
	"WriteRune":       func(b buffer.Buffer) { b.WriteRune('x') },
	"ReadFrom":        func(b buffer.Buffer) { b.ReadFrom(bytes.NewReader(nil)) },
	"Read":            func(b buffer.Buffer) { b.Read(make([]byte, 1)) },
	"WriteTo":         func(b buffer.Buffer) { b.WriteTo(io.Discard) },
	"Bytes":           func(b buffer.Buffer) { b.Bytes() },
	"AvailableBuffer": func(b buffer.Buffer) { b.AvailableBuffer() },
	"String":          func(b buffer.Buffer) { _ = b.String() },
	"Len":             func(b buffer.Buffer) { b.Len() },
	"Cap":             func(b buffer.Buffer) { b.Cap() },
	"Available":       func(b buffer.Buffer) { b.Available() },
	"Grow":            func(b buffer.Buffer) { b.Grow(1) },
	"Truncate":        func(b buffer.Buffer) { b.Truncate(0) },
	"Reset":           func(b buffer.Buffer) { b.Reset() },
}

func TestBufferUsedAfterClosePanicsEvenOnceRelent(t *testing.T) {
	const msg = "buffer: Buffer used after Close"
	for name, use := range bufferUses {
		t.Run(name, func(t *testing.T) {
			for _, poison := range []bool{false, true} {
				p := newPool(t, buffer.PoisonOnClose(poison))
				parked := p.Get(100)
				parked.Close()
				assert.PanicsWithValue(t, msg, func() { use(parked) }, "parked, poison=%v", poison)

				next := p.Get(100) // maybe the same memory
				next.WriteString("next")
				assert.PanicsWithValue(t, msg, func() { use(parked) }, "re-lent, poison=%v", poison)
				assert.Equal(t, "next", next.String())
				next.Close()

				dropped := p.Get(1 << 20) // grows above MaxSize: discarded on Close
				dropped.Write(make([]byte, 1<<17))
				dropped.Close()
				assert.PanicsWithValue(t, msg, func() { use(dropped) }, "dropped, poison=%v", poison)
			}
		})
	}
}

func TestBufferClosedTwiceAfterBeingRelentNeverFreesTheNewHoldersMemory(t *testing.T) {
	noGC(t)
	for _, opts := range [][]buffer.Option{nil, {buffer.ZeroOnClose(true)}, {buffer.PoisonOnClose(true)}} {
		p := newPool(t, opts...)
		first := p.Get(100)
		require.NoError(t, first.Close())
		second := p.Get(100) // the same memory, in steady state
		second.WriteString("the second holder's data")
		assert.ErrorIs(t, first.Close(), buffer.ErrClosed, "a stale second Close is refused")

		// Had the stale Close parked the memory, the next Get would
		// share it with second.
		third := p.Get(100)
		third.WriteString("the third holder's data")
		assert.Equal(t, "the second holder's data", second.String())
		if len(second.Bytes()) > 0 && len(third.Bytes()) > 0 {
			assert.NotSame(t, &second.Bytes()[0], &third.Bytes()[0])
		}
		require.NoError(t, second.Close())
		require.NoError(t, third.Close())
		assert.ErrorIs(t, second.Close(), buffer.ErrClosed)
	}
}

func TestBufferIsReadableLikeBytesBuffer(t *testing.T) {
	b := buffer.Get(0)
	defer b.Close()
	b.WriteString("hello, ")
	b.WriteByte('w')
	n, _ := b.WriteRune('ö')
	assert.Equal(t, 2, n)
	b.WriteString("rld")

	p := make([]byte, 5)
	n, err := b.Read(p)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(p[:n]))
	assert.Equal(t, ", wörld", b.String(), "Read consumes")
	var out bytes.Buffer
	m, err := io.Copy(&out, b) // WriteTo
	require.NoError(t, err)
	assert.EqualValues(t, len(", wörld"), m)
	assert.Equal(t, ", wörld", out.String())
	assert.Zero(t, b.Len())
	n, err = b.Read(p)
	assert.Equal(t, 0, n)
	assert.ErrorIs(t, err, io.EOF)

	// As a request body.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	}))
	defer srv.Close()
	b.WriteString("payload")
	resp, err := http.Post(srv.URL, "text/plain", b)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "payload", string(got))
}

func TestBufferGrowTruncateCapAvailable(t *testing.T) {
	b := buffer.Get(100)
	defer b.Close()
	assert.Equal(t, 128, b.Cap())
	assert.Equal(t, 128, b.Available())
	b.WriteString("0123456789")
	assert.Equal(t, 118, b.Available())
	b.Truncate(4)
	assert.Equal(t, "0123", b.String())
	assert.Panics(t, func() { b.Truncate(5) })
	b.Grow(1000)
	assert.GreaterOrEqual(t, b.Available(), 1000)
	c := b.Cap()
	b.Write(make([]byte, 1000))
	assert.Equal(t, c, b.Cap(), "Grow made room: no growth")
	assert.Panics(t, func() { b.Grow(-1) })

	a := b.AvailableBuffer()
	a = append(a, "tail"...)
	b.Write(a)
	assert.True(t, strings.HasSuffix(b.String(), "tail"))
}

func TestBufferOfNBytesStaysInNsClass(t *testing.T) {
	for _, n := range []int{64, 100, 1024, 4096, 65536} {
		b := buffer.Get(n)
		c := b.Cap()
		b.Write(make([]byte, n))
		assert.Equal(t, c, b.Cap(), "Write of %d bytes", n)
		b.Reset()
		m, err := b.ReadFrom(bytes.NewReader(make([]byte, n)))
		require.NoError(t, err)
		assert.EqualValues(t, n, m)
		assert.Equal(t, c, b.Cap(), "ReadFrom of %d bytes", n)
		b.Close()
	}
}

func TestBufferHugeHintAllocatesAtMostMaxSize(t *testing.T) {
	p := newPool(t, buffer.MaxSize(4096))
	b := p.Get(1 << 40)
	assert.Equal(t, 4096, b.Cap())
	b.Write(make([]byte, 10_000))
	assert.Equal(t, 10_000, b.Len(), "it grows as written")
	b.Close()
	assert.Panics(t, func() { p.Get(-1) })
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
		b.WriteString("one allocation")
		s.Close()
	})
	assert.Equal(t, 1.0, allocs, "a Buffer, two words, allocates as an io.Closer, and nothing else")
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
