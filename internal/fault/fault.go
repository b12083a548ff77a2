// Package fault makes user callbacks misbehave on purpose, for the tests
// that hold reclaim to its fault model: every callback it calls (cleanups,
// Open/Close/HealthCheck/Reset, Retryable, OnRetry, start and stop hooks,
// supervised goroutines) may return an error, panic (also with nil), call
// runtime.Goexit, block until or past its context's end, or be slow, under
// a caller that may recover.
//
// An Injector chooses one ending per call from a seeded random source, so a
// failing run replays from its seed, and counts what it injected. Each
// injected error and panic value is an *Injected with an identity, so a test
// can check that each was observed exactly once: nothing swallowed, nothing
// reported twice.
//
// An Injector is safe for concurrent use.
package fault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is one way a callback can end.
type Kind int

// The endings, in the order of the fault model.
const (
	Return     Kind = iota // return nil
	Error                  // return an *Injected error
	Panic                  // panic with an *Injected value
	PanicNil               // panic(nil), which Go turns into *runtime.PanicNilError
	Goexit                 // runtime.Goexit
	BlockUntil             // block until the context ends, then return its error
	BlockPast              // block until the context ends, then past it, up to the Injector's bound
	Slow                   // sleep a little, then return nil

	numKinds
)

var kindNames = [numKinds]string{"return", "error", "panic", "panic(nil)", "goexit", "block-until-done", "block-past-done", "slow"}

func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return fmt.Sprintf("fault.Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Kinds lists every Kind.
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// Injected is the error a callback returns, or the value it panics with,
// when the Injector chose Error or Panic. ID is unique within its Injector.
type Injected struct {
	ID   uint64
	Kind Kind
	Site string // the callback that injected it, as the test named it
}

func (e *Injected) Error() string {
	return fmt.Sprintf("fault: injected %s #%d at %s", e.Kind, e.ID, e.Site)
}

// Weights is the relative frequency of each Kind; a missing Kind is never
// chosen.
type Weights map[Kind]int

// DefaultWeights makes most calls succeed, so that workloads make progress,
// and every ending common enough to meet every state.
var DefaultWeights = Weights{
	Return: 60, Error: 10, Panic: 5, PanicNil: 2, Goexit: 3,
	BlockUntil: 3, BlockPast: 2, Slow: 15,
}

// Options shape an Injector. The zero Options are usable.
type Options struct {
	Weights Weights       // nil means DefaultWeights
	Slow    time.Duration // the longest a Slow callback sleeps; 0 means 2ms
	Past    time.Duration // how long BlockPast outlives its context; 0 means 20ms
	// Bound is how long a blocking callback without a context (an
	// io.Closer's Close) blocks; 0 means 50ms.
	Bound time.Duration
}

// Injector chooses and performs endings.
type Injector struct {
	opts  Options
	total int
	cum   [numKinds]int // cumulative weights, for choosing

	mu  sync.Mutex
	rng *rand.Rand

	ids      atomic.Uint64
	injected [numKinds]atomic.Int64

	obsMu    sync.Mutex
	live     map[uint64]*Injected // injected errors and panics not yet observed
	seen     map[uint64]*Injected // those observed at least once
	observed map[uint64]int       // times each was observed
}

// New returns an Injector whose choices follow seed.
func New(seed uint64, opts Options) *Injector {
	if opts.Weights == nil {
		opts.Weights = DefaultWeights
	}
	if opts.Slow <= 0 {
		opts.Slow = 2 * time.Millisecond
	}
	if opts.Past <= 0 {
		opts.Past = 20 * time.Millisecond
	}
	if opts.Bound <= 0 {
		opts.Bound = 50 * time.Millisecond
	}
	in := &Injector{
		opts:     opts,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		live:     map[uint64]*Injected{},
		seen:     map[uint64]*Injected{},
		observed: map[uint64]int{},
	}
	for k := Kind(0); k < numKinds; k++ {
		w := opts.Weights[k]
		if w < 0 {
			panic(fmt.Sprintf("fault: negative weight %d for %s", w, k))
		}
		in.total += w
		in.cum[k] = in.total
	}
	if in.total == 0 {
		panic("fault: every weight is zero")
	}
	return in
}

// Next chooses the next ending.
func (in *Injector) Next() Kind {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.Choose(in.rng)
}

// Choose chooses an ending with the Injector's weights from rng, for a
// workload whose goroutines each follow a source of their own, so that
// their choices replay whatever the scheduling.
func (in *Injector) Choose(rng *rand.Rand) Kind {
	n := rng.IntN(in.total)
	for k := Kind(0); k < numKinds; k++ {
		if n < in.cum[k] {
			return k
		}
	}
	panic("fault: unreachable")
}

// Intn returns a number in [0, n) from the Injector's source, for
// workloads that want their choices replayed by the same seed.
func (in *Injector) Intn(n int) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rng.IntN(n)
}

// Do chooses an ending and performs it: it returns nil or an *Injected
// error, or panics, or calls runtime.Goexit, or blocks on ctx.
func (in *Injector) Do(ctx context.Context, site string) error {
	return in.perform(ctx, true, site, in.Next())
}

// DoWithoutContext is Do for a callback that has no context (an
// io.Closer's Close): the blocking endings block for the Injector's Bound.
func (in *Injector) DoWithoutContext(site string) error {
	return in.perform(context.Background(), false, site, in.Next())
}

// Perform performs the ending k, as Do does after choosing it.
func (in *Injector) Perform(ctx context.Context, site string, k Kind) error {
	return in.perform(ctx, true, site, k)
}

// PerformWithoutContext performs the ending k, as DoWithoutContext does
// after choosing it.
func (in *Injector) PerformWithoutContext(site string, k Kind) error {
	return in.perform(context.Background(), false, site, k)
}

func (in *Injector) perform(ctx context.Context, hasCtx bool, site string, k Kind) error {
	in.injected[k].Add(1)
	switch k {
	case Return:
		return nil
	case Error:
		return in.make(k, site)
	case Panic:
		panic(in.make(k, site))
	case PanicNil:
		panic(nil)
	case Goexit:
		runtime.Goexit()
	case BlockUntil:
		return in.block(ctx, hasCtx, 0)
	case BlockPast:
		return in.block(ctx, hasCtx, in.opts.Past)
	case Slow:
		time.Sleep(time.Duration(in.Intn(int(in.opts.Slow)) + 1))
		return nil
	}
	panic(fmt.Sprintf("fault: unknown kind %d", int(k)))
}

func (in *Injector) block(ctx context.Context, hasCtx bool, past time.Duration) error {
	if !hasCtx {
		time.Sleep(in.opts.Bound)
		return nil
	}
	<-ctx.Done()
	if past > 0 {
		time.Sleep(past)
	}
	return ctx.Err()
}

func (in *Injector) make(k Kind, site string) *Injected {
	e := &Injected{ID: in.ids.Add(1), Kind: k, Site: site}
	in.obsMu.Lock()
	in.live[e.ID] = e
	in.obsMu.Unlock()
	return e
}

// Observe records every injected error that err carries, looking through
// wrapping and joined errors (errors.Unwrap, Unwrap() []error, and
// multierr), and every injected panic value carried as an error. Call it
// once per place an error ends up: its caller, a handler, a log.
func (in *Injector) Observe(err error) {
	walk(err, func(e *Injected) { in.see(e) })
}

// Logged records every injected error that err carries as seen in a log.
// A log is where a background failure goes when no caller waits for it;
// it is also where a service writes down what it returns. So a logged
// error counts as observed, but not towards being observed twice.
func (in *Injector) Logged(err error) {
	walk(err, func(e *Injected) {
		in.obsMu.Lock()
		defer in.obsMu.Unlock()
		in.seen[e.ID] = e
		delete(in.live, e.ID)
	})
}

// Recovered records a value recovered from a panic: an *Injected panic, or
// an error carrying injected faults (as a Scope re-raises them).
func (in *Injector) Recovered(v any) {
	switch v := v.(type) {
	case *Injected:
		in.see(v)
	case error:
		in.Observe(v)
	}
}

func (in *Injector) see(e *Injected) {
	in.obsMu.Lock()
	defer in.obsMu.Unlock()
	in.observed[e.ID]++
	in.seen[e.ID] = e
	delete(in.live, e.ID)
}

func walk(err error, fn func(*Injected)) {
	if err == nil {
		return
	}
	if e, ok := err.(*Injected); ok {
		fn(e)
		return
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, fn)
		}
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), fn)
	}
}

// Pending returns the injected errors and panics of the sites for which
// match is true that no one has observed yet.
func (in *Injector) Pending(match func(site string) bool) []*Injected {
	in.obsMu.Lock()
	defer in.obsMu.Unlock()
	var out []*Injected
	for _, e := range in.live {
		if match(e.Site) {
			out = append(out, e)
		}
	}
	return out
}

// Report is what an Injector did and saw.
type Report struct {
	Injected   map[Kind]int64 // endings performed, by kind
	Unobserved []*Injected    // errors and panics no caller saw
	Twice      []*Injected    // errors and panics observed more than once
}

// Report returns the counts and the violations so far.
func (in *Injector) Report() Report {
	r := Report{Injected: map[Kind]int64{}}
	for k := Kind(0); k < numKinds; k++ {
		if n := in.injected[k].Load(); n > 0 {
			r.Injected[k] = n
		}
	}
	in.obsMu.Lock()
	for _, e := range in.live {
		r.Unobserved = append(r.Unobserved, e)
	}
	for id, n := range in.observed {
		if n > 1 {
			r.Twice = append(r.Twice, in.seen[id])
		}
	}
	in.obsMu.Unlock()
	sort.Slice(r.Unobserved, func(i, j int) bool { return r.Unobserved[i].ID < r.Unobserved[j].ID })
	sort.Slice(r.Twice, func(i, j int) bool { return r.Twice[i].ID < r.Twice[j].ID })
	return r
}

// String formats the report's counts, kinds in model order.
func (r Report) String() string {
	var b strings.Builder
	var total int64
	for k := Kind(0); k < numKinds; k++ {
		total += r.Injected[k]
	}
	fmt.Fprintf(&b, "%d endings:", total)
	for k := Kind(0); k < numKinds; k++ {
		fmt.Fprintf(&b, " %s=%d", k, r.Injected[k])
	}
	fmt.Fprintf(&b, "; unobserved %d, observed twice %d", len(r.Unobserved), len(r.Twice))
	return b.String()
}

// Outcome is how a function run by Call ended.
type Outcome struct {
	Panicked  bool
	Recovered any // the panic's value, when Panicked
	Goexited  bool
}

// Call runs fn on a goroutine of its own and reports how it ended, so that
// a test survives a Goexit that a callback's caller passes on.
func Call(fn func()) Outcome {
	var o Outcome
	done := make(chan struct{})
	go func() {
		normal := false
		defer close(done)
		defer func() {
			if normal {
				return
			}
			// Since Go 1.21 panic(nil) recovers as *runtime.PanicNilError,
			// so a nil here means the goroutine is exiting by Goexit.
			if v := recover(); v != nil {
				o.Panicked, o.Recovered = true, v
			} else {
				o.Goexited = true
			}
		}()
		fn()
		normal = true
	}()
	<-done
	return o
}

// IsPanicNil reports whether v is what recover returns for panic(nil).
func IsPanicNil(v any) bool {
	var pn *runtime.PanicNilError
	err, ok := v.(error)
	return ok && errors.As(err, &pn)
}
