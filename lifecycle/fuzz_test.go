package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reclaim-go/reclaim/lifecycle"
	"github.com/reclaim-go/reclaim/retry"
)

// Behaviours of a fuzzed start or stop hook.
const (
	hookOK     = iota
	hookError  // returns an error
	hookPanic  // panics
	hookPolite // blocks until its context is done, then returns its error
	hookDeaf   // blocks until the test releases it, then returns nil
	hookSlow   // sleeps 2s, then returns nil
	hookLate   // deaf: sleeps 12s, past the start timeout, then returns nil
	hookKinds
)

// Behaviours of a fuzzed supervised goroutine.
const (
	goWorker    = iota // runs until cancelled
	goFail             // fails after 1s
	goPanic            // panics at once
	goDeaf             // ignores cancellation until released
	goDone             // returns nil at once
	goRetryable        // fails after 1s under a restart policy whose Retryable panics
	goOnRetry          // fails after 1s under a restart policy whose OnRetry panics
	goKinds
)

// fuzzLog records, per component, how often each hook began and ended.
type fuzzLog struct {
	mu      sync.Mutex
	order   []string        // "start x" / "stop x" as each hook began
	started map[string]bool // Start returned nil
	stops   map[string]int  // Stop calls
}

func (l *fuzzLog) begin(op, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.order = append(l.order, op+" "+name)
	if op == "stop" {
		l.stops[name]++
	}
}

func (l *fuzzLog) succeeded(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started[name] = true
}

func fuzzHook(kind byte, release <-chan struct{}) func(context.Context) error {
	switch kind % hookKinds {
	case hookError:
		return func(context.Context) error { return errors.New("hook failed") }
	case hookPanic:
		return func(context.Context) error { panic("hook panicked") }
	case hookPolite:
		return func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	case hookDeaf:
		return func(context.Context) error { <-release; return nil }
	case hookSlow:
		return func(context.Context) error { time.Sleep(2 * time.Second); return nil }
	case hookLate:
		return func(context.Context) error { time.Sleep(12 * time.Second); return nil }
	}
	return func(context.Context) error { return nil }
}

// fuzzPolicy returns the restart options of a fuzzed goroutine.
func fuzzPolicy(kind byte) []lifecycle.GoOption {
	switch kind % goKinds {
	case goRetryable:
		return []lifecycle.GoOption{lifecycle.Restart(retry.Policy{Retryable: func(error) bool { panic("Retryable bug") }})}
	case goOnRetry:
		return []lifecycle.GoOption{lifecycle.Restart(retry.Policy{OnRetry: func(int, error, time.Duration) { panic(nil) }})}
	}
	return nil
}

func fuzzGoroutine(kind byte, release <-chan struct{}) func(context.Context) error {
	switch kind % goKinds {
	case goRetryable, goOnRetry:
		return func(context.Context) error { time.Sleep(time.Second); return errors.New("goroutine failed") }
	case goFail:
		return func(context.Context) error { time.Sleep(time.Second); return errors.New("goroutine failed") }
	case goPanic:
		return func(context.Context) error { panic("goroutine panicked") }
	case goDeaf:
		return func(context.Context) error { <-release; return nil }
	case goDone:
		return func(context.Context) error { return nil }
	}
	return func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
}

// FuzzGroup builds a group from the input, a list of components and
// goroutines with fuzzed behaviours (restart policies whose callbacks
// panic, start hooks that succeed after they were abandoned), starts it,
// stops it, maybe while Start runs and from other goroutines too, releases
// every hung hook, and checks the invariants: a component is stopped
// exactly once if and only if its Start succeeded (a component without
// Start: always), components start in order and those stopped by Stop
// stop in reverse, Start succeeds only if everything started, every Stop
// and Err return the same result once the stop has finished, errors are
// never lost, and nothing is left running.
func FuzzGroup(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0}, byte(0))
	f.Add([]byte{0, 0, 0, 1, 1, 0}, byte(0))
	f.Add([]byte{0, 0, 4, 4, 0, 0}, byte(0))
	f.Add([]byte{0, 4, 0, 3, 3, 0, 0, 5}, byte(7))
	f.Add([]byte{1, 0, 0, 0, 0, 2}, byte(0))
	f.Add([]byte{1, 3, 0, 0, 1, 1}, byte(3))
	f.Add([]byte{0, 0, 0, 3, 5, 0, 0, 0, 0}, byte(200))  // a Retryable panics
	f.Add([]byte{0, 0, 0, 3, 6, 0, 0, 0, 0}, byte(131))  // an OnRetry panics
	f.Add([]byte{0, 0, 0, 0, 6, 0, 0, 0, 0}, byte(96))   // a late starter, Stop from three goroutines
	f.Add([]byte{0, 0, 0, 0, 6, 0, 0, 0, 1}, byte(0x45)) // a late starter, Stop from two goroutines
	f.Fuzz(func(t *testing.T, spec []byte, stopAt byte) {
		if len(spec) > 30 {
			spec = spec[:30]
		}
		synctest.Test(t, func(t *testing.T) { fuzzGroup(t, spec, stopAt) })
	})
}

func fuzzGroup(t *testing.T, spec []byte, stopAt byte) {
	release := make(chan struct{})
	log := &fuzzLog{started: map[string]bool{}, stops: map[string]int{}}
	g := lifecycle.New(lifecycle.StartTimeout(10*time.Second), lifecycle.StopTimeout(time.Minute),
		lifecycle.CancelGoroutinesFirst(stopAt%2 == 0))
	var names, starters []string // components; those with a Start hook
	wantStopErr := false
	for i := 0; i+2 < len(spec); i += 3 {
		name := fmt.Sprint("c", i/3)
		if spec[i]%4 == 3 {
			if err := g.Go(name, fuzzGoroutine(spec[i+1], release), fuzzPolicy(spec[i+1])...); err != nil {
				t.Fatal(err)
			}
			continue
		}
		start, stop := fuzzHook(spec[i+1], release), fuzzHook(spec[i+2], release)
		if k := spec[i+2] % hookKinds; k == hookError || k == hookPanic {
			wantStopErr = true
		}
		c := lifecycle.Component{
			Name: name,
			Start: func(ctx context.Context) error {
				log.begin("start", name)
				err := start(ctx)
				if err == nil {
					log.succeeded(name)
				}
				return err
			},
			Stop: func(ctx context.Context) error {
				log.begin("stop", name)
				return stop(ctx)
			},
		}
		if spec[i]%4 == 2 {
			// A resource that exists already, as with Closer: stopped
			// once, whether or not the start reaches it.
			c.Start = nil
			log.succeeded(name)
		} else {
			starters = append(starters, name)
		}
		if err := g.Add(c); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}

	// Stop, maybe while Start runs, and from other goroutines, at times
	// chosen by stopAt's upper bits.
	startErr := make(chan error, 1)
	go func() { startErr <- g.Start(context.Background()) }()
	others := make([]error, int(stopAt>>5)&3)
	var wg sync.WaitGroup
	for i := range others {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 700 * time.Millisecond)
			others[i] = g.Stop(context.Background())
		})
	}
	if stopAt < 128 {
		time.Sleep(time.Duration(stopAt&31) * 500 * time.Millisecond)
	} else {
		synctest.Wait()
	}
	stopErr := g.Stop(context.Background())
	serr := <-startErr
	wg.Wait()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for i, again := range append(others, g.Stop(context.Background()), g.Stop(cancelled), g.Err()) {
		if again != stopErr {
			t.Fatalf("Stop or Err (%d) returned %v, the first Stop %v", i, again, stopErr)
		}
	}
	select {
	case <-g.Done():
	default:
		t.Fatal("Done is not closed after Stop returned")
	}
	if g.Cause() == nil {
		t.Fatal("a stopped group has no cause")
	}
	close(release)
	time.Sleep(time.Hour) // abandoned slow hooks return, late stops run out their budget
	synctest.Wait()

	log.mu.Lock()
	defer log.mu.Unlock()
	// Components start in order, and none after one that did not start.
	var begun []string
	for _, ev := range log.order {
		if name, ok := cutPrefix(ev, "start "); ok {
			begun = append(begun, name)
		}
	}
	if !slices.Equal(begun, starters[:len(begun)]) {
		t.Fatalf("started %v, added %v", begun, starters)
	}
	for i, name := range begun[:max(len(begun)-1, 0)] {
		if !log.started[name] {
			t.Fatalf("%s started after %s failed", begun[i+1], name)
		}
	}
	if serr == nil && len(begun) != len(starters) {
		t.Fatalf("Start succeeded but started only %v of %v", begun, starters)
	}
	// Exactly the components that started are stopped, once.
	for _, name := range names {
		want := 0
		if log.started[name] {
			want = 1
		}
		if log.stops[name] != want {
			t.Fatalf("%s: started %v, stopped %d times; events %v", name, log.started[name], log.stops[name], log.order)
		}
	}
	// Stop hooks that the shutdown ran (not late ones) ran in reverse.
	var stopped []string
	for _, ev := range log.order {
		if name, ok := cutPrefix(ev, "stop "); ok {
			stopped = append(stopped, name)
		}
	}
	idx := func(name string) int { return slices.Index(names, name) }
	for i := 1; i < len(stopped); i++ {
		if idx(stopped[i]) > idx(stopped[i-1]) && log.started[stopped[i]] && !lateStart(log.order, stopped[i]) {
			t.Fatalf("stopped %v: not in reverse order", stopped)
		}
	}
	if wantStopErr && stopErr == nil && serr == nil {
		// A failing stop hook ran only if its component started.
		for i := 0; i+2 < len(spec); i += 3 {
			k := spec[i+2] % hookKinds
			if spec[i]%4 != 3 && (k == hookError || k == hookPanic) && log.started[fmt.Sprint("c", i/3)] {
				t.Fatalf("the error of c%d's stop hook was lost", i/3)
			}
		}
	}
	if err := g.CheckLeaks(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// lateStart reports whether name's stop came after a later component's
// start, as it does for a start hook abandoned and stopped when it returns.
func lateStart(order []string, name string) bool {
	i := slices.Index(order, "stop "+name)
	j := slices.Index(order, "start "+name)
	if j < 0 { // no Start hook
		return false
	}
	for _, ev := range order[j+1 : i] {
		if _, ok := cutPrefix(ev, "stop "); ok {
			return true
		}
	}
	return false
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}
