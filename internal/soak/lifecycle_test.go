package soak

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/reclaim-go/reclaim/internal/fault"
	"github.com/reclaim-go/reclaim/lifecycle"
	"github.com/reclaim-go/reclaim/retry"
)

const (
	stopBudget   = 300 * time.Millisecond
	startTimeout = 100 * time.Millisecond
)

// component is one component's bookkeeping: whether its Start succeeded,
// and how many times Stop ran.
type component struct {
	started atomic.Bool
	stops   atomic.Int32
}

// How a lifecycle phase ends.
const (
	byStop = iota
	byContext
	byStopDuringRun
	bySignal
	numEndings
)

var endingNames = [numEndings]string{"Stop", "context", "Stop during Run", "SIGTERM"}

// signalsOnce keeps SIGTERM from killing the soak when it arrives while no
// Run watches signals (a Run that has already returned, say): with any
// channel registered by signal.Notify, the default action is off.
var signalsOnce sync.Once

// lifecycleWorkload runs a Group of components and supervised goroutines
// whose start and stop hooks, goroutine bodies and restart policy hooks end
// as the fault model chooses, and stops it by Stop, by its context, by Stop
// while Run waits, or by a real SIGTERM. Run and Stop must return within
// their budgets, every component whose Start succeeded must be stopped
// exactly once, and none other.
func lifecycleWorkload(r *run, w *worker) {
	signalsOnce.Do(func() { signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM) })
	prefix, name := site("lifecycle")
	opts := []lifecycle.Option{lifecycle.StopTimeout(stopBudget), lifecycle.StartTimeout(startTimeout), lifecycle.GracePeriod(stopBudget)}
	if w.rng.IntN(2) == 0 {
		opts = append(opts, lifecycle.Logger(slog.New(observer{r})))
	}
	g := lifecycle.New(opts...)
	n := 1 + w.rng.IntN(3)
	comps := make([]*component, n)
	for i := range n {
		c := &component{}
		comps[i] = c
		err := g.Add(lifecycle.Component{
			Name: fmt.Sprint("c", i),
			Start: func(ctx context.Context) error {
				if err := w.do(r, ctx, name(fmt.Sprint("c", i, ".Start"))); err != nil {
					return err
				}
				c.started.Store(true)
				return nil
			},
			Stop: func(ctx context.Context) error {
				if !c.started.Load() {
					r.violate(w.name, "%s: c%d stopped but never started", prefix, i)
				}
				c.stops.Add(1)
				return w.do(r, ctx, name(fmt.Sprint("c", i, ".Stop")))
			},
		})
		if err != nil {
			r.violate(w.name, "%s: Add: %v", prefix, err)
		}
	}
	var restarted []string // the sites of goroutines with a restart policy
	for i := range w.rng.IntN(3) {
		var gopts []lifecycle.GoOption
		if w.rng.IntN(2) == 0 {
			restarted = append(restarted, name(fmt.Sprint("g", i, ".run")))
			p := retry.Policy{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
			p.OnRetry = func(int, error, time.Duration) {
				if err := w.doWithoutContext(r, name("OnRetry")); err != nil {
					r.in.Observe(err)
				}
			}
			gopts = append(gopts, lifecycle.Restart(p))
		}
		pause := time.Duration(1+w.rng.IntN(20)) * time.Millisecond
		err := g.Go(fmt.Sprint("g", i), func(ctx context.Context) error {
			for {
				if err := w.do(r, ctx, name(fmt.Sprint("g", i, ".run"))); err != nil || ctx.Err() != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(pause):
				}
			}
		}, gopts...)
		if err != nil {
			r.violate(w.name, "%s: Go: %v", prefix, err)
		}
	}

	ending := w.rng.IntN(numEndings)
	wait := time.Duration(w.rng.IntN(50)) * time.Millisecond
	w.logf("%s: %d components, ends by %s after %v", prefix, n, endingNames[ending], wait)
	runLimit := time.Duration(n)*startTimeout + wait + stopBudget + time.Second // the fallback below
	var outcomes []fault.Outcome
	switch ending {
	case byStop:
		var startErr error
		outcomes = append(outcomes, r.within(w, prefix+" Start", time.Duration(n)*startTimeout+stopBudget, func() {
			startErr = g.Start(context.Background())
			r.in.Observe(startErr)
		}))
		time.Sleep(wait)
		outcomes = append(outcomes, r.within(w, prefix+" Stop", stopBudget, func() {
			ctx, cancel := context.WithTimeout(context.Background(), stopBudget)
			defer cancel()
			err := g.Stop(ctx)
			if startErr != nil {
				// After a failed Start, Stop returns the group's result,
				// which tells the start's failure again.
				r.in.Logged(err)
			} else {
				r.in.Observe(err)
			}
		}))
	default:
		ctx, cancel := context.WithCancel(context.Background())
		var trigger sync.WaitGroup
		trigger.Add(1)
		go func() {
			defer trigger.Done()
			time.Sleep(wait)
			for i := 0; i < 100 && !g.Ready(); i++ {
				time.Sleep(time.Millisecond)
			}
			switch ending {
			case byContext:
				cancel()
			case byStopDuringRun:
				sctx, scancel := context.WithTimeout(context.Background(), stopBudget)
				_ = g.Stop(sctx) // Run returns the stop's errors; this call's are the same ones
				scancel()
			case bySignal:
				if g.Ready() {
					_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				}
			}
			// A Run that missed its trigger (it failed to start, or the
			// signal came before it watched) is stopped by its context.
			time.Sleep(time.Second)
			cancel()
		}()
		outcomes = append(outcomes, r.within(w, prefix+" Run", runLimit, func() {
			r.in.Observe(g.Run(ctx))
		}))
		cancel()
		trigger.Wait()
	}

	// Stop is idempotent: it returns the finished stop's result at once.
	r.within(w, prefix+" second Stop", slack, func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopBudget)
		defer cancel()
		_ = g.Stop(ctx)
	})
	// A start hook that succeeded after the group abandoned it is stopped
	// when it returns; give it that time.
	waitFor(time.Second, func() bool {
		for _, c := range comps {
			if c.started.Load() && c.stops.Load() == 0 {
				return false
			}
		}
		return true
	})
	for i, c := range comps {
		switch s := c.stops.Load(); {
		case s > 1:
			r.violate(w.name, "%s: c%d stopped %d times", prefix, i, s)
		case c.started.Load() && s == 0:
			r.violate(w.name, "%s: c%d started but never stopped", prefix, i)
		}
	}
	// A failure that the restart policy answered with a restart was
	// handled by restarting: that is what the policy is for.
	for _, site := range restarted {
		for _, e := range r.in.Pending(func(s string) bool { return s == site }) {
			r.in.Observe(e) // an error or a panic, either is a failure
		}
	}
	r.settle(w, prefix, outcomes...)
}
