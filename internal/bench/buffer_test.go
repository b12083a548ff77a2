package bench

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"

	libp2p "github.com/libp2p/go-buffer-pool"
	"github.com/valyala/bytebufferpool"

	"github.com/reclaim-go/reclaim/pool/buffer"
)

// The buffer cases: every iteration gets a buffer, writes into it and gives
// it back, from GOMAXPROCS goroutines. Each implementation is used as its
// documentation suggests: reclaim and libp2p are told the size, the naive
// sync.Pool and bytebufferpool are not.

const (
	smallWrite = 1 << 10
	largeWrite = 1 << 20
	largeEvery = 100 // BufferMixed: one request in 100 writes 1 MiB
)

var (
	smallData = bytes.Repeat([]byte{'s'}, smallWrite)
	largeData = bytes.Repeat([]byte{'L'}, largeWrite)
)

// bufferImpl serves one request of len(data) bytes, writing data, and
// returns the capacity the request held once written: what it was handed,
// or what the buffer grew to if that was too small.
type bufferImpl struct {
	name  string
	serve func(data []byte) int
}

var naivePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// mixedPool is reclaim set up for BufferMixed as a user would for that
// traffic: buffers up to its largest request, 1 MiB, are kept. (The default
// pool keeps up to 64 KiB, so it would make every 1 MiB buffer anew.)
var mixedPool = func() *buffer.Pool {
	p, err := buffer.NewPool(buffer.MaxSize(largeWrite), buffer.MaxRetained(16<<20))
	if err != nil {
		panic(err)
	}
	return p
}()

// bufferImpls lists the implementations, with reclaim's buffers coming from
// get.
func bufferImpls(get func(sizeHint int) buffer.Buffer) []bufferImpl {
	return []bufferImpl{
		{"reclaim", func(data []byte) int {
			b := get(len(data))
			b.Write(data)
			c := cap(b.Bytes())
			b.Close()
			return c
		}},
		{"syncpool", func(data []byte) int {
			b := naivePool.Get().(*bytes.Buffer)
			b.Write(data)
			c := b.Cap()
			b.Reset()
			naivePool.Put(b)
			return c
		}},
		{"bytebufferpool", func(data []byte) int {
			b := bytebufferpool.Get()
			b.Write(data)
			c := cap(b.B)
			bytebufferpool.Put(b)
			return c
		}},
		{"libp2p", func(data []byte) int {
			b := libp2p.Get(len(data))
			copy(b, data)
			c := cap(b)
			libp2p.Put(b)
			return c
		}},
	}
}

// BenchmarkBuffer1K: get, write 1 KiB, give back. reclaim uses the default
// pool.
func BenchmarkBuffer1K(b *testing.B) {
	for _, impl := range bufferImpls(buffer.Get) {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					impl.serve(smallData)
				}
			})
		})
	}
}

// BenchmarkBufferMixed: as Buffer1K, but one request in 100 writes 1 MiB.
// handed-B/op is the mean capacity held by a 1 KiB request (handed out, or
// grown to if what was handed was smaller): what a small request costs in
// memory once large ones have passed through the pool. reclaim uses
// mixedPool.
func BenchmarkBufferMixed(b *testing.B) {
	for _, impl := range bufferImpls(mixedPool.Get) {
		b.Run(impl.name, func(b *testing.B) {
			var handed, small atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var h, n int64
				for i := 1; pb.Next(); i++ {
					if i%largeEvery == 0 {
						impl.serve(largeData)
						continue
					}
					h += int64(impl.serve(smallData))
					n++
				}
				handed.Add(h)
				small.Add(n)
			})
			if n := small.Load(); n > 0 {
				b.ReportMetric(float64(handed.Load())/float64(n), "handed-B/op")
			}
		})
	}
}
