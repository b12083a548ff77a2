package soak

import (
	"bytes"
	"runtime"

	"github.com/reclaim-go/reclaim/pool/buffer"
)

var bufferSizes = []int{0, 16, 1000, 1024, 4096, 65536, 1 << 20}

// bufferWorkload takes buffers of mixed sizes, fills each with a pattern of
// its own, yields, and checks that nobody else wrote into it before giving
// it back: a buffer is never handed to two holders at once.
func bufferWorkload(r *run, w *worker) {
	n := bufferSizes[w.rng.IntN(len(bufferSizes))]
	b := buffer.Get(n)
	r.ops.Add(1)
	if b.Len() != 0 {
		r.violate(w.name, "buffer.Get(%d) handed a buffer holding %d bytes", n, b.Len())
	}
	pattern := bytes.Repeat([]byte{byte(w.rng.IntN(256))}, n+1)
	_, _ = b.Write(pattern)
	runtime.Gosched()
	if !bytes.Equal(b.Bytes(), pattern) {
		r.violate(w.name, "a buffer of %d bytes changed under its holder", n)
	}
	if err := b.Close(); err != nil {
		r.violate(w.name, "Buffer.Close: %v", err)
	}
}
