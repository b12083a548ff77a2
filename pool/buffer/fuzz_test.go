package buffer_test

import (
	"bytes"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/reclaim-go/reclaim/pool/buffer"
)

// FuzzBuffer runs sequences of Get, writes, Reset and Close of random sizes
// against a small pool and checks, after every step, that no buffer is held
// by two holders at once, that every holder reads back what it wrote, that
// Get sizes are within bounds, and that the bytes parked match a model and
// never exceed the budget.
//
// The input is read three bytes per step: an operation, an index and a size.
// Its first byte picks the pool's options.
func FuzzBuffer(f *testing.F) {
	f.Add([]byte{0, 0, 0, 10, 0, 0, 5, 0, 0})
	f.Add([]byte{1, 0, 0, 200, 0, 1, 100, 1, 0, 80, 5, 0, 0, 5, 1, 0, 6, 0, 0, 0, 0, 200})
	f.Add([]byte{2, 0, 1, 255, 0, 2, 255, 1, 3, 200, 2, 0, 255, 5, 0, 0, 5, 0, 0, 0, 1, 255})
	f.Add([]byte{3, 0, 0, 30, 3, 0, 99, 4, 0, 0, 1, 0, 77, 5, 0, 0, 6, 0, 0})
	f.Fuzz(runBufferOps)
}

const (
	bufFuzzMaxSize = 8 << 10
	bufFuzzBudget  = 16 << 10
)

type bufFuzzHeld struct {
	b    buffer.Buffer
	want []byte
}

func runBufferOps(t *testing.T, ops []byte) {
	if len(ops) == 0 {
		return
	}
	// Collections would let sync.Pool drop parked buffers at moments the
	// model cannot see; the memory tests cover them.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	zero, poison := ops[0]&1 != 0, ops[0]&2 != 0
	p, err := buffer.NewPool(buffer.MaxSize(bufFuzzMaxSize), buffer.MaxRetained(bufFuzzBudget),
		buffer.ZeroOnClose(zero), buffer.PoisonOnClose(poison))
	if err != nil {
		t.Fatal(err)
	}
	var (
		held     []bufFuzzHeld
		shut     []buffer.Buffer // closed: a second Close must change nothing
		retained int64           // the model: capacity parked
		gets     uint64
		seed     int
	)
	for step := 1; step+2 < len(ops); step += 3 {
		op, idx, size := ops[step]%7, int(ops[step+1]), int(ops[step+2])
		seed++
		var h *bufFuzzHeld
		if len(held) > 0 {
			h = &held[idx%len(held)]
		}
		switch {
		case op == 0: // Get, sizes up to 12 KiB: some above MaxSize
			n := (idx<<8 | size) % (12 << 10)
			before := p.Stats()
			b := p.Get(n)
			after := p.Stats()
			gets++
			c := cap(b.Bytes())
			if after.Hits+after.Misses != before.Hits+before.Misses+1 {
				t.Fatalf("step %d: Get counted %+v -> %+v", step, before, after)
			}
			if after.Hits > before.Hits {
				retained -= int64(c)
			}
			if c < min(n, bufFuzzMaxSize) || c > classCap(min(n, bufFuzzMaxSize)) || b.Len() != 0 {
				t.Fatalf("step %d: Get(%d) handed cap %d, len %d", step, n, c, b.Len())
			}
			for _, o := range held {
				if o.b == b {
					t.Fatalf("step %d: Get(%d) handed a Buffer already held", step, n)
				}
				if c > 0 && cap(o.b.Bytes()) > 0 && &b.Bytes()[:1][0] == &o.b.Bytes()[:1][0] {
					t.Fatalf("step %d: Get(%d) handed memory already held", step, n)
				}
			}
			held = append(held, bufFuzzHeld{b: b})
		case h == nil:
			continue
		case len(h.want) > 4*bufFuzzMaxSize: // keep each step cheap
			h.b.Reset()
			h.want = h.want[:0]
		case op == 1: // Write
			data := bufFuzzData(seed, size*13)
			h.b.Write(data)
			h.want = append(h.want, data...)
		case op == 2: // WriteString
			data := bufFuzzData(seed, size*5)
			h.b.WriteString(string(data))
			h.want = append(h.want, data...)
		case op == 3: // ReadFrom
			data := bufFuzzData(seed, size*23)
			h.b.ReadFrom(bytes.NewReader(data))
			h.want = append(h.want, data...)
		case op == 4:
			h.b.Reset()
			h.want = h.want[:0]
		case op == 5: // Close
			mem := h.b.Bytes()[:cap(h.b.Bytes())]
			before := p.Stats()
			if err := h.b.Close(); err != nil {
				t.Fatalf("step %d: Close: %v", step, err)
			}
			after := p.Stats()
			if after.Drops == before.Drops {
				retained += int64(len(mem))
			}
			if poison && !bufAllBytes(mem, 0xDE) || zero && !poison && !bufAllBytes(mem, 0) {
				t.Fatalf("step %d: Close left the memory unscrubbed", step)
			}
			if len(shut) < 64 {
				shut = append(shut, h.b)
			}
			held = slices.Delete(held, idx%len(held), idx%len(held)+1)
			h = nil
		case op == 6: // Close again, maybe after the memory went to another holder
			if len(shut) == 0 {
				continue
			}
			if err := shut[idx%len(shut)].Close(); err != buffer.ErrClosed {
				t.Fatalf("step %d: second Close returned %v", step, err)
			}
		}
		if h != nil && !bytes.Equal(h.b.Bytes(), h.want) {
			t.Fatalf("step %d: the holder reads back %d bytes, wrote %d", step, h.b.Len(), len(h.want))
		}
		st := p.Stats()
		if st.RetainedBytes != retained || st.RetainedBytes > bufFuzzBudget || st.Hits+st.Misses != gets {
			t.Fatalf("step %d: stats %+v, model: %d bytes parked, %d gets", step, st, retained, gets)
		}
	}
	for _, h := range held {
		if !bytes.Equal(h.b.Bytes(), h.want) {
			t.Fatalf("end: a holder reads back %d bytes, wrote %d", h.b.Len(), len(h.want))
		}
		h.b.Close()
	}
}

// bufFuzzBytes is where bufFuzzData slices its data from, so that a step
// costs no more than the operation it checks.
var bufFuzzBytes = bufPattern(0, 64<<10)

func bufFuzzData(seed, n int) []byte {
	off := seed * 101 % (len(bufFuzzBytes) - n)
	return bufFuzzBytes[off : off+n : off+n]
}

func bufAllBytes(b []byte, c byte) bool {
	for _, x := range b {
		if x != c {
			return false
		}
	}
	return true
}
