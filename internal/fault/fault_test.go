package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/fault"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func TestTheSameSeedChoosesTheSameEndings(t *testing.T) {
	a, b := fault.New(42, fault.Options{}), fault.New(42, fault.Options{})
	c := fault.New(43, fault.Options{})
	same, differ := true, false
	for range 200 {
		ka, kb, kc := a.Next(), b.Next(), c.Next()
		same = same && ka == kb
		differ = differ || ka != kc
	}
	assert.True(t, same, "one seed, one sequence")
	assert.True(t, differ, "another seed, another sequence")
}

func TestWeightsChooseOnlyTheirKindsInProportion(t *testing.T) {
	in := fault.New(1, fault.Options{Weights: fault.Weights{fault.Return: 3, fault.Error: 1}})
	counts := map[fault.Kind]int{}
	for range 4000 {
		counts[in.Next()]++
	}
	assert.Len(t, counts, 2)
	assert.InDelta(t, 3000, counts[fault.Return], 200)
	assert.InDelta(t, 1000, counts[fault.Error], 200)
}

func TestEveryKindDoesWhatItSays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := fault.New(1, fault.Options{Past: 20 * time.Millisecond, Bound: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()

		var err error
		o := fault.Call(func() { err = in.Perform(ctx, "return", fault.Return) })
		assert.Equal(t, fault.Outcome{}, o)
		assert.NoError(t, err)

		fault.Call(func() { err = in.Perform(ctx, "error", fault.Error) })
		var inj *fault.Injected
		require.ErrorAs(t, err, &inj)
		assert.Equal(t, fault.Error, inj.Kind)
		assert.Equal(t, "error", inj.Site)

		o = fault.Call(func() { _ = in.Perform(ctx, "panic", fault.Panic) })
		require.True(t, o.Panicked)
		assert.IsType(t, &fault.Injected{}, o.Recovered)

		o = fault.Call(func() { _ = in.Perform(ctx, "panic(nil)", fault.PanicNil) })
		require.True(t, o.Panicked)
		assert.True(t, fault.IsPanicNil(o.Recovered))

		o = fault.Call(func() { _ = in.Perform(ctx, "goexit", fault.Goexit) })
		assert.Equal(t, fault.Outcome{Goexited: true}, o)

		start := time.Now()
		fault.Call(func() { err = in.Perform(ctx, "until", fault.BlockUntil) })
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(start))

		ctx2, cancel2 := context.WithTimeout(t.Context(), time.Second)
		defer cancel2()
		start = time.Now()
		fault.Call(func() { err = in.Perform(ctx2, "past", fault.BlockPast) })
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Second+20*time.Millisecond, time.Since(start))

		start = time.Now()
		fault.Call(func() { err = in.PerformWithoutContext("closer", fault.BlockUntil) })
		assert.NoError(t, err)
		assert.Equal(t, 50*time.Millisecond, time.Since(start))

		start = time.Now()
		fault.Call(func() { err = in.Perform(ctx, "slow", fault.Slow) })
		assert.NoError(t, err)
		assert.LessOrEqual(t, time.Since(start), 2*time.Millisecond)
		assert.Positive(t, time.Since(start))

		r := in.Report()
		for _, k := range fault.Kinds() {
			want := int64(1)
			if k == fault.BlockUntil {
				want = 2
			}
			assert.Equal(t, want, r.Injected[k], "%s", k)
		}
	})
}

func TestObserveSeesThroughWrappingJoiningAndMultierr(t *testing.T) {
	in := fault.New(1, fault.Options{})
	var errs [4]error
	for i := range errs {
		errs[i] = in.PerformWithoutContext(fmt.Sprint("site", i), fault.Error)
	}
	r := in.Report()
	require.Len(t, r.Unobserved, 4)

	in.Observe(fmt.Errorf("outer: %w", multierr.Combine(errs[0], errors.Join(errs[1], fmt.Errorf("in: %w", errs[2])))))
	r = in.Report()
	require.Len(t, r.Unobserved, 1)
	assert.Equal(t, errs[3], r.Unobserved[0])
	assert.Empty(t, r.Twice)

	in.Recovered(errs[3])
	in.Observe(errs[0])
	r = in.Report()
	assert.Empty(t, r.Unobserved)
	require.Len(t, r.Twice, 1, "errs[0] was observed twice")
	assert.Equal(t, errs[0], r.Twice[0])
	assert.Contains(t, r.String(), "unobserved 0, observed twice 1")
}

func TestRecoveredPanicsAreObserved(t *testing.T) {
	in := fault.New(1, fault.Options{})
	o := fault.Call(func() { _ = in.PerformWithoutContext("p", fault.Panic) })
	require.Len(t, in.Report().Unobserved, 1)
	in.Recovered(o.Recovered)
	assert.Empty(t, in.Report().Unobserved)
}

func TestNewRefusesWeightsThatChooseNothing(t *testing.T) {
	assert.PanicsWithValue(t, "fault: every weight is zero", func() { fault.New(1, fault.Options{Weights: fault.Weights{}}) })
	assert.Panics(t, func() { fault.New(1, fault.Options{Weights: fault.Weights{fault.Error: -1}}) })
}

func TestPendingListsTheUnobservedOfMatchingSites(t *testing.T) {
	in := fault.New(1, fault.Options{})
	a := in.PerformWithoutContext("a#1", fault.Error)
	_ = in.PerformWithoutContext("b#1", fault.Error)
	got := in.Pending(func(site string) bool { return site == "a#1" })
	require.Len(t, got, 1)
	assert.Equal(t, a, got[0])
	in.Observe(a)
	assert.Empty(t, in.Pending(func(site string) bool { return site == "a#1" }))
}

func TestLoggedCountsAsObservedButNotTwice(t *testing.T) {
	in := fault.New(1, fault.Options{})
	err := in.PerformWithoutContext("a", fault.Error)
	in.Logged(err)
	assert.Empty(t, in.Report().Unobserved)
	in.Observe(err)
	in.Logged(err)
	assert.Empty(t, in.Report().Twice, "a returned error that was also logged was reported once")
}
