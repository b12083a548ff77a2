package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/reclaim-go/reclaim/internal/closing"
	"github.com/reclaim-go/reclaim/retry"
)

// Config configures a [Pool]. Open and MaxSize are required, and Close
// unless T has a Close method; every other field has a usable zero value.
// [New] copies the Config: changing it afterwards has no effect on the
// pool.
//
// A pool given only Open and MaxSize opens resources on demand, at most
// min(MaxSize, 4) at once, each within 30 seconds, backing off from 100ms
// to 30s after failures; keeps every resource it made idle (up to MaxSize)
// for ever, without health checks; lets any number of callers wait; closes
// resources with T's Close method; and tracks no leases.
type Config[T any] struct {
	// Open makes a resource. Required.
	//
	// Open runs in a goroutine of its own, never in the caller of
	// [Pool.Acquire], so that an Acquire whose context is done returns at
	// once while the construction it started goes on and lands in the pool
	// for the next caller (pgx#1287 is the bug this avoids). Its context
	// carries the values of the Acquire that asked for it, but not that
	// Acquire's cancellation: it is done when OpenTimeout has passed or
	// [Pool.Close] is called. A panic in Open goes to the Acquire waiting
	// for it (see the package doc).
	Open func(ctx context.Context) (T, error)

	// Close destroys a resource. It runs in the goroutine that decided the
	// resource's fate: the holder that destroyed or released it, the
	// pool's background goroutine, an Acquire that found it expired, or
	// [Pool.Close]. Nil means T's own Close method, which T must have in
	// one of the forms Close() error, Close() or Close(context.Context)
	// error (called with a background context): [New] refuses a Config
	// that would leave its resources unclosed.
	Close func(T) error

	// MaxSize bounds the number of resources open or being opened at once.
	// It must be at least 1.
	MaxSize int

	// MinIdle is the number of idle resources the pool keeps ready: it
	// opens resources in the background until that many are idle, within
	// MaxSize, and never closes an idle resource for MaxIdleTime when that
	// would leave fewer. Zero means none are kept warm. It must be between
	// 0 and MaxSize.
	MinIdle int

	// MaxIdle bounds the idle resources, as database/sql's
	// SetMaxIdleConns: a resource released while MaxIdle are idle, with
	// no caller waiting, is destroyed instead, so that the excess of a
	// burst closes at once. Zero means MaxSize: no bound but the pool's.
	// It must be between MinIdle and MaxSize, or zero.
	MaxIdle int

	// MaxIdleTime is how long a resource may stay idle before the pool
	// closes it, least recently used first, down to MinIdle. Zero means
	// idle resources are closed only by MaxLifetime and [Pool.Close].
	// Negative is invalid.
	MaxIdleTime time.Duration

	// MaxLifetime bounds the age of a resource: each resource lives
	// MaxLifetime minus a duration drawn uniformly from
	// [0, LifetimeJitter), so no resource outlives MaxLifetime, and
	// resources opened together (a fleet starting, a pool refilling after
	// an outage) do not all expire together. An expired resource is closed
	// when it is idle or as soon as it is released; a lease in progress is
	// never cut short. Zero means no bound. Negative is invalid.
	MaxLifetime time.Duration

	// LifetimeJitter is the spread of the lifetimes under MaxLifetime.
	// Zero means MaxLifetime/10: lifetimes fall in (90%, 100%] of
	// MaxLifetime. [NoLifetimeJitter] means none: every resource lives
	// exactly MaxLifetime. Other negative values, and values above
	// MaxLifetime, are invalid.
	LifetimeJitter time.Duration

	// HealthCheck, when set, checks an idle resource before Acquire hands
	// it out, if it has been idle for at least HealthCheckAfter. It runs in
	// the goroutine of the Acquire, with its context. A resource whose
	// check returns an error, for whatever reason including a done
	// context, is destroyed, and Acquire moves on to the next one.
	// Resources handed straight from a release or a construction to a
	// waiting Acquire are never checked: they were just in use or just
	// made.
	HealthCheck func(ctx context.Context, v T) error

	// HealthCheckAfter is how long a resource must have been idle for
	// HealthCheck to run before it is reused. Zero means every reuse of an
	// idle resource is checked. Negative is invalid.
	HealthCheckAfter time.Duration

	// MaxWaiters bounds the number of Acquire calls waiting at once for a
	// release; an Acquire that would wait beyond it returns [ErrBusy] at
	// once. It bounds waiting, not growth: callers that the pool can still
	// serve by constructing, within MaxSize, are not counted. Zero means
	// no bound. Negative is invalid.
	MaxWaiters int

	// MaxConstructing bounds the number of Open calls running at once, so
	// that a burst of demand, or a server that is slow to accept, is not
	// answered with a connection storm. Zero means min(MaxSize, 4)
	// (currently; this may change). Negative is invalid.
	MaxConstructing int

	// OpenTimeout bounds each call of Open through its context. Zero means
	// 30 seconds (currently; this may change). Negative is invalid.
	OpenTimeout time.Duration

	// OpenBackoff paces Open after it fails: the pool waits for the
	// policy's next delay before it calls Open again (see [Pool.Acquire]
	// for who fails meanwhile). A success starts the sequence over. Only
	// the delay fields are used, InitialDelay, MaxDelay, Multiplier and
	// Jitter: the pool never gives up on Open, so a Policy with any other
	// field set (MaxAttempts, OnRetry, ...) is refused rather than
	// silently ignored. The zero Policy means a first delay of up to
	// 100ms, doubling up to 30s, with full jitter. An invalid policy is a
	// configuration error.
	OpenBackoff retry.Policy

	// LeakThreshold turns on lease tracking when positive. Every Acquire
	// then records its caller's stack, and:
	//   - a lease held longer than LeakThreshold is logged with that stack,
	//     once, and again when it is finally given back;
	//   - a lease that becomes unreachable without being released is
	//     detected (through runtime.AddCleanup), logged, and its resource
	//     destroyed so that its slot serves others;
	//   - [Pool.Close] names where each lease it gave up on was acquired;
	//   - every lease is listed, with where it was acquired, in the pprof
	//     profile reclaim.leases while it is out, and one dropped is
	//     recorded for scopetest.VerifyTestMain.
	// The process-wide level (RECLAIM_LEAKS=sampled or full, or
	// VerifyTestMain) tracks leases in the registry and finds dropped ones
	// without it; a sampled level tracks one lease in 64.
	// Tracking costs a stack capture and a few allocations per Acquire;
	// without it, Acquire and Release allocate nothing. Zero means off.
	// Negative is invalid.
	LeakThreshold time.Duration

	// Logger receives the pool's reports: leases held past LeakThreshold
	// or dropped (at level Warn and Error), Open failures that no caller
	// received (Warn, at most one per 10 seconds, with the count of those
	// left out), what a Close without deadline still waits for (Warn,
	// every 10 seconds), and errors returned by Close and panics of
	// callbacks on the pool's own goroutines (Error). Nil means
	// slog.Default() for the reports about leases and Opens, while Close
	// errors and panics are kept for [Pool.Close] to return instead (up to
	// 16, and counted beyond). Every Close error is counted in
	// [Stats].CloseErrors, every such panic in [Stats].Panics.
	Logger *slog.Logger
}

// NoLifetimeJitter is the [Config].LifetimeJitter that gives every
// resource exactly MaxLifetime.
const NoLifetimeJitter time.Duration = -1

// Defaults of the zero Config fields.
const (
	defaultMaxConstructing = 4
	defaultOpenTimeout     = 30 * time.Second
)

// check returns an error naming the first invalid field of c, if any.
func (c *Config[T]) check() error {
	switch {
	case c.Open == nil:
		return errors.New("pool: Config.Open is required")
	case c.MaxSize < 1:
		return fmt.Errorf("pool: Config.MaxSize must be >= 1, got %d", c.MaxSize)
	case c.MinIdle < 0 || c.MinIdle > c.MaxSize:
		return fmt.Errorf("pool: Config.MinIdle must be between 0 and MaxSize (%d), got %d", c.MaxSize, c.MinIdle)
	case c.MaxIdle != 0 && (c.MaxIdle < c.MinIdle || c.MaxIdle > c.MaxSize):
		return fmt.Errorf("pool: Config.MaxIdle must be between MinIdle (%d) and MaxSize (%d), or 0, got %d", c.MinIdle, c.MaxSize, c.MaxIdle)
	case c.MaxIdleTime < 0:
		return fmt.Errorf("pool: Config.MaxIdleTime must be >= 0, got %v", c.MaxIdleTime)
	case c.MaxLifetime < 0:
		return fmt.Errorf("pool: Config.MaxLifetime must be >= 0, got %v", c.MaxLifetime)
	case c.LifetimeJitter < 0 && c.LifetimeJitter != NoLifetimeJitter || c.LifetimeJitter > c.MaxLifetime:
		return fmt.Errorf("pool: Config.LifetimeJitter must be between 0 and MaxLifetime (%v), or NoLifetimeJitter, got %v", c.MaxLifetime, c.LifetimeJitter)
	case c.HealthCheckAfter < 0:
		return fmt.Errorf("pool: Config.HealthCheckAfter must be >= 0, got %v", c.HealthCheckAfter)
	case c.MaxWaiters < 0:
		return fmt.Errorf("pool: Config.MaxWaiters must be >= 0, got %d", c.MaxWaiters)
	case c.MaxConstructing < 0:
		return fmt.Errorf("pool: Config.MaxConstructing must be >= 0, got %d", c.MaxConstructing)
	case c.OpenTimeout < 0:
		return fmt.Errorf("pool: Config.OpenTimeout must be >= 0, got %v", c.OpenTimeout)
	case c.LeakThreshold < 0:
		return fmt.Errorf("pool: Config.LeakThreshold must be >= 0, got %v", c.LeakThreshold)
	}
	if _, ok := closing.Closer[T](); c.Close == nil && !ok {
		return fmt.Errorf("pool: Config.Close is required: %v has no Close method (Close() error, Close() or Close(context.Context) error)", reflect.TypeFor[T]())
	}
	if _, err := c.OpenBackoff.Backoff(); err != nil {
		return fmt.Errorf("pool: Config.OpenBackoff: %w", err)
	}
	if f := unusedBackoffField(&c.OpenBackoff); f != "" {
		return fmt.Errorf("pool: Config.OpenBackoff.%s is set, but the pool uses only the delay fields (InitialDelay, MaxDelay, Multiplier, Jitter)", f)
	}
	return nil
}

// unusedBackoffField returns the name of the first field of p that is set
// and that the pool does not use, or "". Fields retry.Policy may gain later
// count as unused.
func unusedBackoffField(p *retry.Policy) string {
	v := reflect.ValueOf(p).Elem()
	for i := range v.NumField() {
		switch name := v.Type().Field(i).Name; name {
		case "InitialDelay", "MaxDelay", "Multiplier", "Jitter":
		default:
			if !v.Field(i).IsZero() {
				return name
			}
		}
	}
	return ""
}
