package closing

import "time"

// Throttle bounds the rate of a report: Allow says yes at most once per
// Every, and counts the reports it refused meanwhile. The zero Throttle
// allows the first report. It is not safe for concurrent use: its owner's
// lock protects it.
type Throttle struct {
	last       time.Duration
	started    bool
	suppressed int
}

// Allow reports whether a report made at now (any monotonic offset) may go
// out, given one per every; when it may, it also returns how many were
// refused since the last one.
func (t *Throttle) Allow(now, every time.Duration) (ok bool, suppressed int) {
	if t.started && now-t.last < every {
		t.suppressed++
		return false, 0
	}
	t.started, t.last = true, now
	n := t.suppressed
	t.suppressed = 0
	return true, n
}
