package handles

import "time"

// startJanitorLocked starts the janitor goroutine, which closes idle
// handles as their IdleTimeout expires. There is at most one; it sleeps on
// one timer set to the earliest queued deadline and exits when the queue is
// empty, so it is started again by the next push. Caller must hold h.mu.
func (h *Cache[K, V]) startJanitorLocked() {
	h.janitor = true
	done := make(chan struct{})
	h.janitorDone = done
	go h.runJanitor(done)
}

func (h *Cache[K, V]) runJanitor(done chan struct{}) {
	defer close(done)
	// The handle whose push started the janitor expires at most
	// IdleTimeout from now, and every other queued handle later.
	timer := time.NewTimer(h.cfg.IdleTimeout)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-h.wake:
		}
		h.mu.Lock()
		expired := h.expired[:0]
		if !h.closed.Load() { // once closed, Close closes the idle handles itself
			now := time.Now()
			for e := h.popIdleLocked(now); e != nil; e = h.popIdleLocked(now) {
				h.removeLocked(e)
				expired = append(expired, e)
			}
		}
		h.mu.Unlock()

		for _, e := range expired {
			h.closeReported(e, closedIdle)
		}
		clear(expired) // do not keep closed handles reachable

		h.mu.Lock()
		h.expired = expired
		if h.closed.Load() || h.queue.Len() == 0 {
			// Decided under the lock, so a push that finds h.janitor
			// false starts a new janitor instead of relying on this one.
			h.janitor = false
			h.mu.Unlock()
			return
		}
		// The queue is lazy: the earliest queued deadline may belong to a
		// handle since taken or released again, so the timer can fire
		// early, never late.
		next := time.Until(h.queue.Peek().When())
		h.mu.Unlock()
		timer.Reset(next)
	}
}
