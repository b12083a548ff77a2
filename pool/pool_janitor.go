package pool

import (
	"context"
	"time"

	"github.com/reclaim-go/reclaim/internal/stack"
)

// The janitor is the pool's one background goroutine. It runs only while
// something is due at a known time: an idle resource reaching MaxIdleTime
// or its lifetime, the end of a backoff that keeps MinIdle from being
// restored, or a tracked lease reaching LeakThreshold. It sleeps on one
// timer until the earliest of those, and exits when there is none, so a
// busy pool without deadlines never runs it (like database/sql's
// connectionCleaner, but woken by deadlines instead of a fixed interval).
//
// Each wake-up scans the idle list and, when tracking, the leased
// resources: O(MaxSize) per deadline. That keeps Acquire and Release free
// of any heap upkeep, which matters more than the janitor's cost.

// scheduleIdleLocked makes sure the janitor will expire s, just made idle.
// Caller must hold p.mu.
func (p *Pool[T]) scheduleIdleLocked(s *poolSlot[T]) {
	var at time.Duration // zero: nothing due
	if p.cfg.MaxIdleTime > 0 && len(p.idle) > p.cfg.MinIdle {
		// The front of the idle list is due first.
		at = p.idle[0].idleSince + p.cfg.MaxIdleTime
	}
	if s.expires != 0 && (at == 0 || s.expires < at) {
		at = s.expires
	}
	if at != 0 {
		p.wantJanitorLocked(at)
	}
}

// wantJanitorLocked makes sure the janitor wakes up at or before at,
// starting it if it is not running. Waking a sleeping janitor costs a
// channel send, made only when at is earlier than its next wake-up, which
// a steady stream of releases never is. Caller must hold p.mu.
func (p *Pool[T]) wantJanitorLocked(at time.Duration) {
	if p.closed {
		return
	}
	if !p.janitor {
		p.janitor = true
		p.janitorNext = at
		p.janitorDone = make(chan struct{})
		go p.janitorLoop(p.janitorDone, at)
		return
	}
	if at < p.janitorNext {
		p.janitorNext = at
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

func (p *Pool[T]) janitorLoop(done chan struct{}, first time.Duration) {
	defer close(done)
	timer := time.NewTimer(first - p.now())
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-p.wake:
		}
		for {
			p.mu.Lock()
			if p.closed { // Close takes over the idle resources
				p.janitor = false
				p.checkDrainedLocked()
				p.mu.Unlock()
				return
			}
			now := p.now()
			doomed, reports, next := p.janitorPassLocked(now)
			if len(doomed) == 0 && next == 0 {
				// Decided under the lock, so that whoever next needs the
				// janitor finds p.janitor false and starts a new one.
				p.janitor = false
				p.mu.Unlock()
				p.logLeaks(reports)
				return
			}
			if len(doomed) > 0 {
				// Look again once they are destroyed; meanwhile nobody
				// needs to wake us.
				next = now
			}
			p.janitorNext = next
			p.mu.Unlock()
			p.logLeaks(reports)
			if len(doomed) == 0 {
				timer.Reset(next - now)
				break
			}
			for _, s := range doomed {
				p.destroyReported(s)
			}
		}
	}
}

// janitorPassLocked retires what is due at now, collects the leak reports
// due, restores MinIdle if it may, and returns when it is next needed (zero
// for never). Caller must hold p.mu.
func (p *Pool[T]) janitorPassLocked(now time.Duration) (doomed []*poolSlot[T], reports []leaseReport, next time.Duration) {
	if p.cfg.MaxLifetime > 0 {
		kept := p.idle[:0]
		for _, s := range p.idle {
			if now < s.expires {
				kept = append(kept, s)
				continue
			}
			p.retireLocked(s, destroyLifetime)
			doomed = append(doomed, s)
		}
		clear(p.idle[len(kept):])
		p.idle = kept
	}
	if d := p.cfg.MaxIdleTime; d > 0 {
		k := 0
		for k < len(p.idle)-p.cfg.MinIdle && now-p.idle[k].idleSince >= d {
			p.retireLocked(p.idle[k], destroyIdle)
			doomed = append(doomed, p.idle[k])
			k++
		}
		if k > 0 {
			n := copy(p.idle, p.idle[k:])
			clear(p.idle[n:])
			p.idle = p.idle[:n]
		}
	}
	doomed = append(doomed, p.takeDroppedLocked()...)
	if p.track {
		for _, s := range p.all {
			if s.state == slotLeased && !s.reported && now-s.acquired >= p.cfg.LeakThreshold {
				s.reported = true
				p.stats.LeaksReported++
				reports = append(reports, leaseReport{held: now - s.acquired, trace: s.trace})
			}
		}
	}
	p.fillLocked(context.Background(), now)

	earliest := func(t time.Duration) {
		if next == 0 || t < next {
			next = t
		}
	}
	if p.cfg.MaxLifetime > 0 {
		for _, s := range p.idle {
			earliest(s.expires)
		}
	}
	if p.cfg.MaxIdleTime > 0 && len(p.idle) > p.cfg.MinIdle {
		earliest(p.idle[0].idleSince + p.cfg.MaxIdleTime)
	}
	if p.track && p.leased > 0 {
		// A lease dropped without Release is found by a runtime cleanup,
		// which must not touch the pool's channels (inside a synctest
		// bubble that is fatal), so it cannot wake anyone: while leases
		// are out, look every LeakThreshold for what it found.
		earliest(now + p.cfg.LeakThreshold)
		for _, s := range p.all {
			if s.state == slotLeased && !s.reported {
				earliest(s.acquired + p.cfg.LeakThreshold)
			}
		}
	}
	if now < p.backoffUntil && p.needLocked() > p.constructing {
		earliest(p.backoffUntil)
	}
	return doomed, reports, next
}

// leaseReport is a lease held past LeakThreshold.
type leaseReport struct {
	held  time.Duration
	trace stack.Trace
}

func (p *Pool[T]) logLeaks(reports []leaseReport) {
	for _, r := range reports {
		p.leakLogger().Warn("pool: lease held longer than LeakThreshold",
			"held", r.held, "threshold", p.cfg.LeakThreshold, "acquired_at", r.trace.String())
	}
}
