package pool

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/reclaim-go/reclaim/internal/closing"
)

// construct calls Open in a goroutine of its own, started by fillLocked,
// and hands the resource to the first waiter or to the idle list. ctx
// gives Open its values; its cancellation is replaced by OpenTimeout and
// Close, so that a construction outlives the Acquire that started it.
//
// Whatever Open does, the construction ends: a panic is recovered, and a
// Goexit, which cannot be stopped, ends it from a deferred call; either
// goes to the first waiter, or is reported when there is none.
func (p *Pool[T]) construct(ctx context.Context) {
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.openTimeout)
	stop := context.AfterFunc(p.closeCtx, cancel)
	ended := false
	defer func() {
		if !ended { // Open called runtime.Goexit
			stop()
			cancel()
			var zero T
			p.opened(zero, nil, &PanicError{Callback: "pool: Config.Open", Goexit: true})
		}
	}()
	var v T
	var err error
	pe := closing.Guard("pool: Config.Open", func() { v, err = p.cfg.Open(octx) })
	ended = true
	stop()
	cancel()
	p.opened(v, err, pe)
}

// opened ends a construction: Open returned v and err, or panicked (pe).
func (p *Pool[T]) opened(v T, err error, pe *PanicError) {
	now := p.now()
	p.mu.Lock()
	p.constructing--
	if err != nil || pe != nil {
		logged := p.openFailedLocked(err, pe, now)
		p.checkDrainedLocked()
		p.mu.Unlock()
		if logged != nil {
			logged()
		}
		return
	}
	p.stats.Opened++
	p.backoff.Reset()
	p.backoffUntil, p.openErr = 0, nil
	s := &poolSlot[T]{p: p, value: v}
	p.addLocked(s, now)
	if p.closed {
		p.retireLocked(s, destroyLate)
		p.mu.Unlock()
		p.destroyReported(s)
		return
	}
	if !p.putLocked(s, now) { // MaxIdle are idle: its caller gave up
		p.retireLocked(s, destroyIdle)
		p.mu.Unlock()
		p.destroyReported(s)
		return
	}
	p.fillLocked(context.Background(), now)
	p.mu.Unlock()
}

// openLogEvery bounds the rate of the reports of background Open failures.
const openLogEvery = 10 * time.Second

// openFailedLocked starts a backoff after Open failed with err or the
// panic pe. The failure goes to one caller at most: the newest waiter,
// unless the leases out and the constructions running are enough for
// every waiter. During an outage (see failOutageLocked) the other waiters
// fail too. A failure that no waiter receives is a background one
// (MinIdle, a refill): the panic is reported, the error logged at a
// bounded rate, by the func returned for the caller to call without p.mu.
// Caller must hold p.mu.
func (p *Pool[T]) openFailedLocked(err error, pe *PanicError, now time.Duration) (log func()) {
	p.stats.OpenErrors++
	if p.closed {
		if pe != nil {
			return p.reportLocked(pe)
		}
		return nil
	}
	d := p.backoff.Next()
	p.backoffUntil = now + d
	cause := err
	if pe != nil {
		// Not wrapped: the panic itself goes to one caller only.
		what := "panicked"
		if pe.Goexit {
			what = "called runtime.Goexit"
		}
		cause = fmt.Errorf("%s %s", pe.Callback, what)
	}
	if d > 0 {
		p.openErr = fmt.Errorf("pool: Open failed, next attempt in %v at the earliest: %w", d, cause)
	} else {
		p.openErr = fmt.Errorf("pool: Open failed: %w", cause)
	}
	if p.waiters.n > p.leased+p.constructing {
		// The newest waiter: the older ones are first in line for the
		// leases and constructions in flight.
		w := p.waiters.popBack()
		p.stats.FailFast++
		w.ch <- waitResult[T]{err: p.openErr, pe: pe}
	} else if pe != nil {
		log = p.reportLocked(pe)
	} else if ok, suppressed := p.openLog.Allow(now, openLogEvery); ok {
		logger, openErr := p.leakLogger(), p.openErr
		log = func() {
			logger.LogAttrs(context.Background(), slog.LevelWarn, "pool: background Open failed",
				slog.Any("error", openErr), slog.Int("suppressed", suppressed))
		}
	}
	p.failOutageLocked(p.openErr)
	switch {
	case p.needLocked() <= p.constructing:
	case d == 0 && p.waiters.n > p.leased+p.constructing:
		// Each failure fails one of those waiters, so this cannot spin.
		p.fillLocked(context.Background(), now)
	case d > 0:
		// Without a delay and without waiters, the next Open waits for
		// the next event (an Acquire, a release): a failing MinIdle
		// warm-up must not spin.
		p.wantJanitorLocked(p.backoffUntil)
	}
	return log
}
