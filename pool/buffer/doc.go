// Package buffer lends byte buffers that never hoard memory. Everything it
// lends implements [io.Closer], and Close gives it back, so a buffer is
// returned like any other resource: with defer, or with a scope.Scope's
// DeferClose beside the files and connections of the same function. It
// imports neither retry nor scope.
//
// [Get] borrows a buffer from the default pool, with at least the
// capacity asked for; Close gives it back:
//
//	b := buffer.Get(4096)
//	defer b.Close()
//	b.Write(header)
//	if _, err := b.ReadFrom(body); err != nil {
//		return err
//	}
//	_, err := conn.Write(b.Bytes())
//
// A Buffer has the methods of [bytes.Buffer] for writing (Write,
// WriteString, WriteByte, WriteRune, ReadFrom, Grow, AvailableBuffer) and
// for reading (Read, WriteTo, Bytes, String), with Len, Cap, Available,
// Truncate and Reset; like bytes.Buffer's, Read and WriteTo consume what
// they return, so a Buffer can feed io.Copy or a request body. [NewPool]
// makes a pool of one's own with options; the zero [Pool], like the
// default one, keeps buffers of up to 64 KiB and parks at most 8 MiB.
//
// A size hint is a hint: Get(n) then writing, or ReadFrom of, n bytes never
// grows the buffer, and a hint above MaxSize gets a buffer of MaxSize that
// grows as it is written, so that no hint (say 1<<40 from a corrupt length
// prefix) allocates more than MaxSize up front. A negative hint panics.
//
// A pool keeps its buffers in size classes: powers of two from 64 bytes up to
// its [MaxSize], with one sync.Pool per class. Get(n) takes a buffer
// from the smallest class that fits n, so it hands out less than twice n
// rounded up to a power of two: a 1 KiB request receives less than 2 KiB,
// never the 1 MiB buffer someone needed earlier (golang/go#23199). A buffer that grew while in use goes back
// to the class of its new size, and one that outgrew MaxSize is
// dropped.
//
// Size classes need the caller to say roughly how much it will write, which
// it usually knows; in exchange no request pays for another's size. The
// alternative, calibration as in valyala/bytebufferpool, learns from past
// Puts the one size to hand out and the largest size to keep. Until it has
// learned, it hands any buffer to any request; afterwards the rare large
// request starts from the common size and grows by doubling, and a pool
// whose traffic has two common sizes serves one of them badly. In the
// BufferMixed benchmark of internal/bench (1 KiB requests, one in 100 for
// 1 MiB, with MaxSize set to 1 MiB), reclaim hands each 1 KiB request
// 1 KiB and runs five to ten times faster than bytebufferpool, which once
// calibrated makes every large buffer anew by growing it; a naive sync.Pool
// of *bytes.Buffer is no faster and hands the 1 KiB requests 1 MiB buffers.
// On 1 KiB requests alone (Buffer1K) reclaim costs about 1.5 times the naive
// pool, whose Get and Put it does too: the difference is the two atomic
// operations per Get and Close that keep the counters and the budget exact.
//
// Besides the size cap, a pool bounds the memory it keeps: the capacity of
// the buffers parked in it never exceeds [MaxRetained]; a Close that
// would go over drops its buffer. sync.Pool also lets go of parked buffers
// on its own, over two garbage collections; the pool learns of each through
// a runtime.AddCleanup and gives the buffer's bytes back to the budget, so a
// burst of large buffers cannot keep the budget full after the memory is
// gone. [Pool.Stats] reports hits, misses, drops, the buffers the
// collector took and the bytes parked.
//
// [ZeroOnClose] wipes a buffer's memory when it is closed, and the memory a
// growing buffer leaves behind, for buffers that held secrets.
//
// # Giving back twice, and use after Close
//
// A Buffer belongs to its holder until Close; afterwards it belongs to the
// pool. The rule is the one of pool.Lease and handles.Ref: a second Close,
// through any copy, returns [ErrClosed] and changes nothing; any other use
// after Close panics ("buffer: Buffer used after Close"). A Buffer is a
// value carrying the number of its loan, which Close retires, so both hold
// in every mode and for ever, even after the pool lent the memory to
// someone else: a stale Close can never give a new holder's memory back
// under it. What the Buffer cannot guard is a slice kept from Bytes: for
// tests, [PoisonOnClose], or the environment variable RECLAIM_POISON=1 for
// every pool including the default one, fills closed memory with 0xDE, and
// a write through such a slice is detected when the memory would be handed
// out again.
//
// [Get], [Default] and a [Pool]'s methods are safe for concurrent use; a
// [Buffer], like a bytes.Buffer, is not: it belongs to one holder at a time.
package buffer
