package scope

import (
	"sync"
	"time"
)

// An Option configures a Scope made by [New]. Options are applied in order;
// when two set the same thing, the last one wins.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// options are shared, immutable once built, by a Scope and every Scope that
// [Scope.Release] makes from it.
type options struct {
	sites          bool
	holdFailures   bool
	cleanupTimeout time.Duration
	leaks          LeakLevel
	leaksSet       bool // by DetectLeaks or OnLeak; otherwise the process-wide level applies
	onLeak         func(Leak)
}

// RecordSites makes each registration remember where it was made (file and
// line). A failing cleanup's error is then a [*CleanupError] naming that
// site. Recording costs one runtime.Callers per registration and no
// allocation; it is off by default.
func RecordSites(on bool) Option {
	return optionFunc(func(o *options) { o.sites = on })
}

// HoldFailureCleanups makes the failure-only cleanups ([Scope.OnFailure])
// that the unwinding reaches before anything failed wait instead of being
// dropped: if a cleanup fails later in the same unwinding, they run at its
// end, newest first. By default a failure makes only the failure-only
// cleanups older than it run, which suits rollbacks that undo what older
// cleanups would otherwise keep. Hold them when a failure-only cleanup
// releases what a successful close would hand over, and a failing cleanup
// anywhere means nothing is handed over: retry's attempts use it, so that a
// value discarded because its attempt's cleanup failed is released
// whatever the order of registration.
func HoldFailureCleanups(on bool) Option {
	return optionFunc(func(o *options) { o.holdFailures = on })
}

// CleanupTimeout gives every [Scope.DeferContext] cleanup its own deadline:
// d after it starts, or the deadline of the context given to
// [Scope.CloseContext] if that is earlier. Its context is cancelled then,
// and if the cleanup has still not returned, it is abandoned: the unwinding
// goes on without it and the error names it ([*CleanupError] wrapping
// [ErrCleanupTimeout] and [context.DeadlineExceeded]). [Handle.Run] and a
// cleanup registered after Close are bounded the same way. However early
// its deadline, a cleanup is waited for at least 10 ms, so that one reached
// after CloseContext's deadline passed, which starts with a done context,
// can still return its own result (or panic in the caller) instead of
// being abandoned before it ran.
//
// Such a cleanup runs in a goroutine of its own so that it can be
// abandoned. If it ends in time it ends as if it had run in place: its
// error is reported, its panic raised, its runtime.Goexit repeated in the
// closing goroutine (failing the unwinding). An abandoned one runs on until
// it returns, possibly while older cleanups run; its late error or panic is
// reported to slog.Default, with the panic's stack, rather than raised.
// d <= 0, the default, means no deadline but the context's, and a cleanup
// that ignores its context is waited for.
func CleanupTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.cleanupTimeout = d })
}

// LeakLevel says how many scopes made by [New] are watched for leaks.
type LeakLevel uint8

const (
	// LeaksOff watches no scope. It costs nothing.
	LeaksOff LeakLevel = iota
	// LeaksSampled watches one scope in [LeakSampleRate], so that leak
	// detection can stay on in production at a negligible cost.
	LeaksSampled
	// LeaksFull watches every scope; for tests and debugging.
	LeaksFull // the values are those of the registry's levels (internal/track)
)

// LeakSampleRate is how many scopes [LeaksSampled] lets pass for each one it
// watches.
const LeakSampleRate = 64

// DetectLeaks sets the leak detection level of the scopes made with it,
// overriding the process-wide level: the RECLAIM_LEAKS environment variable
// (see [New]) and the tracking that scopetest.VerifyTestMain turns on for a
// test run.
func DetectLeaks(level LeakLevel) Option {
	return optionFunc(func(o *options) { o.leaks, o.leaksSet = level, true })
}

// OnLeak sets the function that receives leak reports instead of the default,
// which prints them to standard error and records them for
// scopetest.VerifyTestMain: a leak sent to report is its to deal with. It runs on the runtime's cleanup
// goroutine, so it must not block. Asking for reports turns detection on:
// if the level in effect is [LeaksOff], OnLeak sets it to [LeaksFull].
func OnLeak(report func(Leak)) Option {
	return optionFunc(func(o *options) {
		o.onLeak = report
		if o.leaks == LeaksOff {
			o.leaks, o.leaksSet = LeaksFull, true
		}
	})
}

// defaultOptions is shared by every New() without options, so that such a
// Scope costs one allocation: itself.
var defaultOptions = sync.OnceValue(func() *options { return &options{} })

func buildOptions(opts []Option) *options {
	if len(opts) == 0 {
		return defaultOptions()
	}
	o := &options{}
	for _, opt := range opts {
		opt.apply(o)
	}
	return o
}

// Options combines opts into one Option that applies them in order. It is
// for code that hands its callers a single Option standing for several,
// such as scopetest.CheckLeaks.
func Options(opts ...Option) Option {
	return optionFunc(func(o *options) {
		for _, opt := range opts {
			opt.apply(o)
		}
	})
}
