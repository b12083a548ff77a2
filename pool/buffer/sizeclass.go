package buffer

import "math/bits"

// Size classes are powers of two from minClassSize up to a pool's
// MaxSize. Class c holds buffers whose capacity lies in
// [classSize(c), 2*classSize(c)), and Get(n) takes from the smallest class
// whose size is at least n, so a buffer is never handed to a request less
// than half its capacity: a 1 KiB request receives at most 2 KiB minus one
// byte, whatever the pool once held for larger requests.
const (
	minClassShift = 6 // 64 B: one cache line; smaller buffers are not worth pooling
	minClassSize  = 1 << minClassShift
	maxClassShift = 30 // 1 GiB, the largest MaxSize accepted
	numClasses    = maxClassShift - minClassShift + 1
)

// classSize is the smallest capacity of the buffers in class c.
func classSize(c int) int { return minClassSize << c }

// classFor is the class that serves a request for n bytes: the smallest one
// whose buffers all have capacity n or more. It may be beyond a pool's top
// class; the caller checks.
func classFor(n int) int {
	if n <= minClassSize {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// classOf is the class a buffer of capacity c goes back to: the largest one
// whose size is at most c, so that every buffer of a class can serve its
// requests. It is -1 for a capacity below the smallest class.
func classOf(c int) int {
	if c < minClassSize {
		return -1
	}
	return bits.Len(uint(c)) - 1 - minClassShift
}

// roundCap is the capacity a buffer grows to when it needs n bytes: the next
// power of two, so that a grown buffer fills its new class exactly.
func roundCap(n int) int {
	if n <= minClassSize {
		return minClassSize
	}
	if n > 1<<(bits.UintSize-2) {
		return n // no power of two fits an int; take exactly what is asked
	}
	return 1 << bits.Len(uint(n-1))
}
