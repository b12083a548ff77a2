package pool

import (
	"context"
	"fmt"
	"time"
)

// construct calls Open in a goroutine of its own, started by fillLocked,
// and hands the resource to the first waiter or to the idle list. ctx
// gives Open its values; its cancellation is replaced by OpenTimeout and
// Close, so that a construction outlives the Acquire that started it.
func (p *Pool[T]) construct(ctx context.Context) {
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.openTimeout)
	stop := context.AfterFunc(p.closeCtx, cancel)
	v, err := p.cfg.Open(octx)
	stop()
	cancel()

	now := p.now()
	p.mu.Lock()
	p.constructing--
	if err != nil {
		p.openFailedLocked(err, now)
		p.checkDrainedLocked()
		p.mu.Unlock()
		return
	}
	p.stats.Opened++
	p.backoff.Reset()
	p.backoffUntil, p.openErr = 0, nil
	s := &poolSlot[T]{p: p, value: v}
	p.addLocked(s, now)
	if p.closed {
		p.retireLocked(s, destroyClose)
		p.mu.Unlock()
		p.destroy(s)
		return
	}
	p.putLocked(s, now)
	p.fillLocked(context.Background(), now)
	p.mu.Unlock()
}

// openFailedLocked starts a backoff after Open returned err, and fails the
// waiters that nothing in flight would serve. Caller must hold p.mu.
func (p *Pool[T]) openFailedLocked(err error, now time.Duration) {
	p.stats.OpenErrors++
	if p.closed {
		return
	}
	d := p.backoff.Next()
	p.backoffUntil = now + d
	if d > 0 {
		p.openErr = fmt.Errorf("pool: Open failed, next attempt in %v at the earliest: %w", d, err)
	} else {
		p.openErr = fmt.Errorf("pool: Open failed: %w", err)
	}
	p.failUncoveredLocked(p.openErr)
	// Without a delay, the next Open waits for the next event (an Acquire,
	// a release) rather than following at once: a failing MinIdle warm-up
	// must not spin.
	if d > 0 && p.needLocked() > p.constructing {
		p.wantJanitorLocked(p.backoffUntil)
	}
}
