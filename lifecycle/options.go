package lifecycle

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/reclaim-go/reclaim/retry"
)

// An Option configures a Group made by [New]. Options are applied in order;
// when two set the same thing, the last one wins.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// options are immutable once built.
type options struct {
	startTimeout    time.Duration // <= 0: none
	stopTimeout     time.Duration // <= 0: none
	grace           time.Duration // <= 0: none
	drain           time.Duration
	goroutinesFirst bool
	logger          *slog.Logger // nil: silent

	signals <-chan os.Signal // test seam: replaces signal.Notify in Run
	dump    io.Writer        // test seam: where the third signal dumps stacks
}

// Defaults, in one place.
const (
	defaultStartTimeout = 15 * time.Second
	defaultStopTimeout  = 30 * time.Second
	defaultGrace        = 30 * time.Second
)

var defaultOptions = options{
	startTimeout:    defaultStartTimeout,
	stopTimeout:     defaultStopTimeout,
	grace:           defaultGrace,
	goroutinesFirst: true,
}

func buildOptions(opts []Option) *options {
	o := defaultOptions
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	o.drain = max(o.drain, 0)
	return &o
}

// StartTimeout bounds each start hook that does not set its own
// [Component.StartTimeout]: a hook still running after d makes Start fail.
// The default is 15 seconds; d <= 0 means no bound besides the context
// given to Start.
func StartTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.startTimeout = d })
}

// StopTimeout is the stop budget when none comes from a context: for
// [Group.Stop] given a context without a deadline, for the rollback of a
// failed Start, and for the shutdown that a failed supervised goroutine
// triggers outside [Group.Run]. The default is 30 seconds; d <= 0 means no
// bound, so that a stop hook that never returns blocks Stop forever.
func StopTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.stopTimeout = d })
}

// GracePeriod is the time [Group.Run] gives itself from the moment it
// decides to stop (a signal, its context, a failure) to its return: the
// readiness drain and then the stop budget. Set it a little below the
// orchestrator's own (Kubernetes' terminationGracePeriodSeconds, 30 s by
// default) so that the process exits before it is killed. The default is 30
// seconds; d <= 0 means none: the drain is not capped and the stop has the
// [StopTimeout] budget.
func GracePeriod(d time.Duration) Option {
	return optionFunc(func(o *options) { o.grace = d })
}

// DrainDelay is how long [Group.Run] reports not-ready before it begins to
// stop, so that load balancers stop sending new requests while the servers
// still accept them. It is capped at half the [GracePeriod], which leaves
// the other half to stop. The default is 0: no drain. Negative means 0.
func DrainDelay(d time.Duration) Option {
	return optionFunc(func(o *options) { o.drain = d })
}

// CancelGoroutinesFirst says when Stop stops the supervised goroutines
// started by [Group.Go]. When on, the default, Stop cancels all of them at
// once, before any component stops, and waits for them: workers stop using
// the database before it closes. When off, each goroutine is stopped at its
// own place in the reverse order, like a component.
func CancelGoroutinesFirst(on bool) Option {
	return optionFunc(func(o *options) { o.goroutinesFirst = on })
}

// Logger makes the group log what it does through l: each component
// starting, started, stopping and stopped, goroutine failures and restarts,
// signals, drains and abandoned hooks. Without it (or with nil) the group
// is silent.
func Logger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// A GoOption configures one supervised goroutine started by [Group.Go].
type GoOption interface {
	applyGo(*goOptions)
}

type goOptionFunc func(*goOptions)

func (f goOptionFunc) applyGo(o *goOptions) { f(o) }

type goOptions struct {
	restart    *retry.Policy
	resetAfter time.Duration
	resetSet   bool // resetAfter was given; else the policy's default
}

// Restart makes a supervised goroutine that fails (returns an error or
// panics) start again after a delay, following p, instead of shutting the
// group down. p bounds a failure streak, not the goroutine's life: its
// MaxAttempts counts the failed run and the restarts that fail in a row,
// MaxElapsed the time since the streak's first failure, and its delays
// grow with each failure of the streak. A run that stayed up for a while
// (see [ResetAfter]) and then failed begins a new streak: the count, the
// elapsed time and the backoff start over, as a supervisor's restart
// intensity does in Erlang or suture. So
//
//	lifecycle.Restart(retry.Policy{MaxAttempts: 10})
//
// shuts the group down after ten failures in quick succession, never
// after ten failures a day apart.
//
// p.Retryable chooses the errors worth a restart, and p.OnRetry is called
// before each; a panic in either becomes the goroutine's failure (a
// [*PanicError] with Op "Retryable" or "OnRetry"). When p gives up, the
// goroutine has failed and the group shuts down. A run that returns nil
// ends the goroutine for good. p.AttemptTimeout is not applied: each run
// gets the goroutine's context, which is cancelled only by Stop.
func Restart(p retry.Policy) GoOption {
	return goOptionFunc(func(o *goOptions) { o.restart = &p })
}

// ResetAfter sets how long a run of a goroutine with a [Restart] policy
// must stay up for its failure to begin a new failure streak. The default
// is the policy's MaxDelay (30 s when zero), and at least one second: a
// run that outlasted the longest delay was not part of a crash loop. d must
// be positive; Go returns an error otherwise, or without Restart.
func ResetAfter(d time.Duration) GoOption {
	return goOptionFunc(func(o *goOptions) { o.resetAfter, o.resetSet = d, true })
}
