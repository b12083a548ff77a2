package pool

import (
	"math"
	"math/bits"
	"time"
)

// Stats is a snapshot of a [Pool], returned by [Pool.Stats] and carried by
// [AcquireError]. It is a plain value: the gauges and counters were read
// together, under one lock.
type Stats struct {
	// Pool status

	// MaxSize is the configured bound on Total plus Constructing.
	MaxSize int
	// Total is the number of resources open: idle, in use, or on their way
	// to being destroyed (a dropped lease's, or one whose Close is
	// running).
	Total int
	// Idle is the number of resources waiting to be lent.
	Idle int
	// InUse is the number of resources lent out, including those being
	// health-checked for an Acquire.
	InUse int
	// Constructing is the number of Open calls running.
	Constructing int
	// Waiters is the number of Acquire calls waiting for a resource.
	Waiters int

	// Counters

	// Acquires is the total number of leases lent.
	Acquires uint64
	// Waits is the total number of leases lent after waiting, because
	// nothing was idle.
	Waits uint64
	// WaitTime is the total time those Acquire calls waited: exact for the
	// first 64 waits, then an estimate, as waits are sampled (see
	// WaitDurations).
	WaitTime time.Duration
	// Canceled is the total number of Acquire calls whose context was done
	// before a resource was lent.
	Canceled uint64
	// Busy is the total number of Acquire calls that returned [ErrBusy].
	Busy uint64
	// FailFast is the total number of Acquire calls failed with an Open
	// error: while waiting when an Open failed, or at once during a
	// backoff.
	FailFast uint64
	// Opened is the total number of successful Open calls.
	Opened uint64
	// OpenErrors is the total number of Open calls that returned an error.
	OpenErrors uint64

	// DestroyedIdle is the total number of resources destroyed after
	// MaxIdleTime idle, or released while MaxIdle were idle.
	DestroyedIdle uint64
	// DestroyedLifetime is the total number of resources destroyed at the
	// end of their MaxLifetime.
	DestroyedLifetime uint64
	// DestroyedHealthCheck is the total number of resources destroyed
	// because HealthCheck failed.
	DestroyedHealthCheck uint64
	// DestroyedExplicit is the total number of resources destroyed by
	// [Lease.Destroy].
	DestroyedExplicit uint64
	// DestroyedClose is the total number of resources destroyed by or
	// after [Pool.Close].
	DestroyedClose uint64
	// DestroyedDropped is the total number of resources destroyed because
	// their lease was dropped without Release.
	DestroyedDropped uint64
	// CloseErrors is the total number of errors returned by Close.
	CloseErrors uint64
	// Panics is the total number of panics and Goexits of callbacks on
	// the pool's own goroutines that no caller received (see [PanicError]).
	Panics uint64

	// LeaksReported is the total number of leases reported as held longer
	// than LeakThreshold.
	LeaksReported uint64
	// LeasesDropped is the total number of leases found unreachable
	// without having been given back.
	LeasesDropped uint64

	// Distributions

	// WaitDurations is the distribution of the time Acquire took to lend
	// each lease: zero (the first bucket) when a resource was idle. Its
	// Count and the Acquire calls that found a resource idle are exact;
	// the waits are sampled as the holds are (see HoldDurations): a pool
	// times its first 64 waits, then one in sixteen at random, and records
	// each wait it did not time as the latest one it did.
	WaitDurations Histogram
	// HoldDurations is the distribution of the time leases were held,
	// from Acquire returning to Release or Destroy. Its Count is exact, but
	// the durations are sampled, as reading the clock costs more than the
	// rest of an Acquire and Release: a pool times its first 64 leases,
	// then one in sixteen at random (every lease when LeakThreshold is
	// set), and records each lease it did not time as the latest one it
	// did. Sum, the buckets, Mean and Quantile are then estimates whose
	// shape follows the timed sample.
	HoldDurations Histogram
}

// Destroyed returns the total number of resources destroyed, for whatever
// reason.
func (s Stats) Destroyed() uint64 {
	return s.DestroyedIdle + s.DestroyedLifetime + s.DestroyedHealthCheck +
		s.DestroyedExplicit + s.DestroyedClose + s.DestroyedDropped
}

func (s *Stats) countDestroy(r destroyReason) {
	switch r {
	case destroyIdle:
		s.DestroyedIdle++
	case destroyLifetime:
		s.DestroyedLifetime++
	case destroyHealthCheck:
		s.DestroyedHealthCheck++
	case destroyExplicit:
		s.DestroyedExplicit++
	case destroyClose, destroyLate:
		s.DestroyedClose++
	case destroyDropped:
		s.DestroyedDropped++
	default:
		panic("bug: pool: unknown destroy reason")
	}
}

// Histogram is a distribution of durations over fixed buckets whose
// bounds double: Counts[0] counts durations under 1µs, Counts[i] those in
// [2^(i-1)µs, 2^i µs), and the last bucket everything from 2^38µs (about
// 76 hours) on. Fixed bounds make histograms of different pools, or of one
// pool at different times, comparable bucket by bucket: subtract two
// snapshots' Counts to get the distribution in between. Recording is an
// increment, cheap enough for every Acquire.
type Histogram struct {
	// Counts holds the number of durations in each bucket; see [Histogram.Bounds].
	Counts [40]uint64
	// Sum is the total of the durations recorded.
	Sum time.Duration
}

const histBuckets = len(Histogram{}.Counts)

func histBucket(d time.Duration) int {
	if d < time.Microsecond {
		return 0
	}
	return min(bits.Len64(uint64(d/time.Microsecond)), histBuckets-1)
}

// addAgain counts *again more durations of last, which were recorded
// without touching h, and sets *again to zero.
func (h *Histogram) addAgain(last time.Duration, again *uint64) {
	h.Counts[histBucket(last)] += *again
	*again = 0
}

// Bounds returns the range [lo, hi) of bucket i. The last bucket's hi is
// the largest Duration.
func (h Histogram) Bounds(i int) (lo, hi time.Duration) { return histBounds(i) }

func histBounds(i int) (lo, hi time.Duration) {
	switch {
	case i < 0 || i >= histBuckets:
		panic("pool: Histogram bucket out of range")
	case i == 0:
		return 0, time.Microsecond
	case i == histBuckets-1:
		return time.Microsecond << (i - 1), math.MaxInt64
	}
	return time.Microsecond << (i - 1), time.Microsecond << i
}

// Count returns the number of durations recorded.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Mean returns the mean of the durations recorded, or 0 if there are none.
func (h Histogram) Mean() time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return h.Sum / time.Duration(n)
}

// Quantile returns an upper bound of the q-quantile of the durations
// recorded: the upper bound of the bucket it falls in, so at most twice the
// true value, or the lower bound of the last bucket for durations beyond
// it. q is clamped to [0, 1]: below 0 means the minimum's bucket, above 1
// the maximum's. It returns 0 if nothing was recorded, and for a q that is
// NaN.
func (h Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 || math.IsNaN(q) {
		return 0
	}
	rank := uint64(math.Ceil(max(0, min(q, 1)) * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	last := 0
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		seen += c
		last = i
		if seen >= rank {
			break
		}
	}
	lo, hi := histBounds(last)
	if last == histBuckets-1 {
		return lo
	}
	return hi
}
