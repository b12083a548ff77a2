package retry_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reclaim-go/reclaim/retry"
)

// policyOf builds a Policy from fuzzed fields, any of which may be invalid.
func policyOf(attempts int64, elapsed, initial, maxDelay, timeout int64, mult float64, jitter uint8, seed uint64) retry.Policy {
	return retry.WithRand(retry.Policy{
		MaxAttempts:    int(attempts),
		MaxElapsed:     time.Duration(elapsed),
		InitialDelay:   time.Duration(initial),
		MaxDelay:       time.Duration(maxDelay),
		Multiplier:     mult,
		Jitter:         retry.Jitter(jitter),
		AttemptTimeout: time.Duration(timeout),
	}, rand.New(rand.NewPCG(seed, seed>>1)))
}

var fields = []string{"MaxAttempts", "MaxElapsed", "InitialDelay", "MaxDelay", "Multiplier", "Jitter", "AttemptTimeout"}

func namesAField(err error) bool {
	for _, f := range fields {
		if strings.Contains(err.Error(), "retry: invalid Policy: "+f) {
			return true
		}
	}
	return false
}

// FuzzBackoff checks the delay arithmetic: for any policy, either an error
// naming a field, or delays that stay in [0, MaxDelay] without a panic.
func FuzzBackoff(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), int64(0), int64(0), 0.0, uint8(0), uint64(1), uint16(50))
	f.Add(int64(3), int64(0), int64(1), int64(1<<62), int64(0), 1e308, uint8(2), uint64(7), uint16(1000))
	f.Add(int64(-1), int64(-5), int64(-1), int64(-1), int64(-1), -1.0, uint8(9), uint64(3), uint16(10))
	f.Fuzz(func(t *testing.T, attempts, elapsed, initial, maxDelay, timeout int64, mult float64, jitter uint8, seed uint64, steps uint16) {
		p := policyOf(attempts, elapsed, initial, maxDelay, timeout, mult, jitter, seed)
		b, err := p.Backoff()
		if err != nil {
			if !namesAField(err) {
				t.Fatalf("error does not name a field: %v", err)
			}
			return
		}
		limit := p.MaxDelay
		switch {
		case p.InitialDelay < 0 && limit == 0:
			limit = 0
		case limit == 0:
			limit = max(30*time.Second, p.InitialDelay)
		}
		prev := time.Duration(-1)
		for n := range int(steps) {
			d := b.Next()
			if d < 0 || d > limit {
				t.Fatalf("delay %d = %v, outside [0, %v]", n+1, d, limit)
			}
			if p.Jitter == retry.NoJitter && d < prev {
				t.Fatalf("delay %d = %v shrank from %v without jitter", n+1, d, prev)
			}
			prev = d
		}
	})
}

// FuzzDo drives the retry state machine with fuzzed policies, outcomes
// (among them attempts that panic, cleanups that use their Attempt and
// successful attempts whose cleanups fail) and context deadlines, in fake
// time, and checks what it promises, and that the next call starts afresh.
func FuzzDo(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), int64(0), int64(0), 0.0, uint8(0), uint64(1), []byte{1, 1, 0}, int64(0))
	f.Add(int64(4), int64(0), int64(-1), int64(0), int64(0), 0.0, uint8(3), uint64(1), []byte{1, 1, 1, 1, 1}, int64(0))
	f.Add(int64(10), int64(5e9), int64(1e9), int64(3e9), int64(0), 2.0, uint8(3), uint64(2), []byte{1, 4, 1, 1, 1, 1}, int64(0))
	f.Add(int64(10), int64(0), int64(1e9), int64(0), int64(5e8), 1.5, uint8(1), uint64(3), []byte{1, 5, 1, 2}, int64(4e9))
	f.Add(int64(6), int64(0), int64(1e8), int64(0), int64(0), 0.0, uint8(2), uint64(4), []byte{1, 1, 3, 0}, int64(0))
	f.Fuzz(func(t *testing.T, attempts, elapsed, initial, maxDelay, timeout int64, mult float64, jitter uint8, seed uint64, outcomes []byte, deadline int64) {
		if attempts > 50 || len(outcomes) > 50 {
			return // keep runs short; the arithmetic has its own fuzzer
		}
		p := policyOf(attempts, elapsed, initial, maxDelay, timeout, mult, jitter, seed)
		synctest.Test(t, func(t *testing.T) {
			checkDo(t, p, outcomes, time.Duration(deadline))
		})
	})
}

// Outcomes of an attempt, by fuzzed byte modulo numOutcomes.
const (
	succeed = iota
	transient
	permanent
	canceled
	retryAfter
	timeOut      // wait for the attempt's context, which may have a timeout
	panics       // panic, after registering a cleanup
	cleanupUses  // fail, with cleanups that use the Attempt
	cleanupFails // succeed, with a cleanup that fails
	numOutcomes
)

var (
	errPanic = errors.New("fuzz: attempt panicked")
	errClose = errors.New("fuzz: cleanup failed")
)

type fuzzKey struct{}

func checkDo(t *testing.T, p retry.Policy, outcomes []byte, deadline time.Duration) {
	ctx := context.WithValue(t.Context(), fuzzKey{}, "caller")
	if deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, deadline)
		defer cancel()
	}
	_, invalid := p.Backoff()
	start := time.Now()
	var starts []time.Duration
	var delays []time.Duration
	var last int // the outcome of the last attempt
	cleanups, registered := 0, 0
	p.OnRetry = func(_ int, _ error, d time.Duration) { delays = append(delays, d) }
	var err error
	panicked := catch(func() {
		err = retry.Do(ctx, p, func(a *retry.Attempt) error {
			starts = append(starts, time.Since(start))
			if ctx.Err() != nil {
				t.Fatal("attempt started after the context was done")
			}
			last = outcomeOf(outcomes, a.Number())
			switch last {
			case succeed:
				return nil
			case permanent:
				return retry.Permanent(errFatal)
			case canceled:
				return context.Canceled
			case retryAfter:
				return retry.RetryAfter(errTransient, time.Duration(a.Number())*time.Second)
			case timeOut:
				if p.AttemptTimeout == 0 {
					return errTransient
				}
				<-a.Context().Done()
				return a.Context().Err()
			case panics:
				registered++
				a.Scope().DeferFunc(func() { cleanups++ })
				panic(errPanic)
			case cleanupUses:
				registered++
				n, c, s := a.Number(), a.Context(), a.Scope()
				s.DeferFunc(func() {
					if a.Number() != n || a.Context() != c || a.Scope() != s ||
						c.Err() == nil || c.Value(fuzzKey{}) != "caller" {
						t.Fatal("a cleanup saw another attempt")
					}
					s.DeferFunc(func() { cleanups++ })
				})
				return errTransient
			case cleanupFails:
				a.Scope().Defer(func() error { return errClose })
				return nil
			}
			return errTransient
		})
	})
	if cleanups != registered {
		t.Fatalf("%d of %d cleanups ran before Do returned", cleanups, registered)
	}
	checkFresh(t)
	if panicked != nil {
		if panicked != errPanic || last != panics {
			t.Fatalf("Do panicked with %v after outcome %d", panicked, last)
		}
		return
	}
	calls := len(starts)
	if invalid != nil {
		if calls != 0 || err == nil || err.Error() != invalid.Error() {
			t.Fatalf("invalid policy: %d calls, err %v, want %v", calls, err, invalid)
		}
		return
	}
	maxAttempts := p.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = 5
	}
	if calls < 1 || calls > maxAttempts {
		t.Fatalf("%d calls, policy allows 1 to %d", calls, maxAttempts)
	}
	if err == nil {
		if last != succeed {
			t.Fatalf("succeeded after outcome %d", last)
		}
		return
	}
	var e *retry.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *retry.Error", err)
	}
	if e.Attempts != calls || len(e.Errs) != calls || !errors.Is(err, e.Errs[calls-1]) {
		t.Fatalf("error %#v after %d calls", e, calls)
	}
	if len(delays) != calls-1 {
		t.Fatalf("OnRetry called %d times for %d attempts", len(delays), calls)
	}
	if p.MaxElapsed > 0 && starts[calls-1] > p.MaxElapsed {
		t.Fatalf("last attempt started at %v, past MaxElapsed %v", starts[calls-1], p.MaxElapsed)
	}
	switch e.Reason {
	case retry.ErrExhausted:
		if calls != maxAttempts && p.MaxElapsed == 0 {
			t.Fatalf("exhausted after %d of %d attempts without MaxElapsed", calls, maxAttempts)
		}
	case retry.ErrDeadline:
		if deadline <= 0 {
			t.Fatal("ErrDeadline without a deadline")
		}
		if ctx.Err() != nil {
			t.Fatal("gave up for the deadline after sleeping into it")
		}
	case context.DeadlineExceeded, context.Canceled:
		if ctx.Err() == nil {
			t.Fatalf("reason %v with the context alive", e.Reason)
		}
	case retry.ErrCleanup:
		if last != cleanupFails || !errors.Is(err, errClose) {
			t.Fatalf("ErrCleanup after outcome %d: %v", last, err)
		}
	case nil:
		if last != permanent || !errors.Is(err, errFatal) {
			t.Fatalf("not retried after outcome %d: %v", last, err)
		}
	case retry.ErrThrottled:
	default:
		t.Fatalf("unexpected reason %v", e.Reason)
	}
}

func outcomeOf(outcomes []byte, n int) int {
	if i := n - 1; i < len(outcomes) {
		return int(outcomes[i] % numOutcomes)
	}
	return transient
}

// catch calls fn and returns what it panicked with, if anything.
func catch(fn func()) (v any) {
	defer func() { v = recover() }()
	fn()
	return nil
}

// checkFresh checks that a call made after another, whatever that one did,
// starts from attempt 1 with its own context and an empty Scope.
func checkFresh(t *testing.T) {
	ctx := context.WithValue(t.Context(), fuzzKey{}, "fresh")
	n, err := retry.Value(ctx, retry.Policy{}, func(a *retry.Attempt) (int, error) {
		if a.Context().Value(fuzzKey{}) != "fresh" || a.Scope().Len() != 0 {
			t.Fatal("a call saw the state of an earlier one")
		}
		return a.Number(), nil
	})
	if err != nil || n != 1 {
		t.Fatalf("fresh call: attempt %d, %v", n, err)
	}
}
