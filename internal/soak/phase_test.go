package soak

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/reclaim-go/reclaim/internal/fault"
)

const (
	phase          = 300 * time.Millisecond
	poolCloseLimit = 200 * time.Millisecond
)

// runPhase runs one life of a pool or a cache: four holders, each calling
// the use that holder(g, timeout) makes for it (in this goroutine, so that
// it may draw from w.rng) until the phase ends or use reports the owner
// closed; meanwhile the owner is closed with closeFn, at a random moment,
// sometimes under its holders. A holder's operation may take its timeout
// plus opExtra, Close its context's poolCloseLimit plus closeExtra. It
// returns how Close ended.
func runPhase(r *run, w *worker, prefix string, opExtra, closeExtra time.Duration,
	holder func(g int, timeout time.Duration) (use func() (closed bool)),
	closeFn func(context.Context) error) fault.Outcome {
	end := time.Now().Add(phase)
	closeUnderHolders := w.rng.IntN(2) == 0
	var wg sync.WaitGroup
	for g := range 4 {
		timeout := []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond}[w.rng.IntN(3)]
		use := holder(g, timeout)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				var closed bool
				o := r.within(w, fmt.Sprintf("%s holder %d", prefix, g), timeout+opExtra, func() { closed = use() })
				if o != (fault.Outcome{}) {
					w.logf("%s holder %d: %s", prefix, g, describe(o))
				}
				if closed {
					return
				}
			}
		}()
	}
	if !closeUnderHolders {
		wg.Wait()
	} else {
		time.Sleep(time.Duration(w.rng.IntN(int(phase))))
	}
	o := r.within(w, prefix+" Close", poolCloseLimit+closeExtra, func() {
		ctx, cancel := context.WithTimeout(context.Background(), poolCloseLimit)
		defer cancel()
		err := closeFn(ctx)
		w.logf("%s: Close: %s", prefix, flat(err))
		r.in.Observe(err)
		r.counted(err, prefix)
	})
	wg.Wait()
	return o
}

// A phased resource is what a pool or cache of the soak opened: closed
// says whether its owner closed it, forceClose closes it and names it.
type phased interface {
	isClosed() bool
	forceClose() string
}

// checkClosed waits a moment for every resource of a phase to be closed
// (an Open that outlived Close lands in the closed owner, which closes
// it), then reports, and closes, each that was not.
func checkClosed[T phased](r *run, w *worker, prefix string, mu *sync.Mutex, items *[]T) {
	waitFor(time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, it := range *items {
			if !it.isClosed() {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for _, it := range *items {
		if !it.isClosed() {
			r.violate(w.name, "%s: %s never closed", prefix, it.forceClose())
		}
	}
}
