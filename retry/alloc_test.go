package retry_test

import (
	"context"
	"testing"

	"github.com/reclaim-go/reclaim/retry"
	"github.com/stretchr/testify/assert"
)

func skipUnderRace(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items: allocation counts are meaningless")
	}
}

func TestTheSuccessPathAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	ctx := context.Background()
	p := retry.Policy{Budget: retry.NewBudget(10, 0.1), Retryable: func(error) bool { return true }}
	ok := func(*retry.Attempt) error { return nil }
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		if err := retry.Do(ctx, p, ok); err != nil {
			t.Fatal(err)
		}
	}))
	value := func(a *retry.Attempt) (int, error) { return a.Number(), nil }
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		if _, err := retry.Value(ctx, p, value); err != nil {
			t.Fatal(err)
		}
	}))
}

func TestFailedAttemptsWithoutDelayAllocateNothing(t *testing.T) {
	skipUnderRace(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := retry.Policy{InitialDelay: retry.NoDelay, MaxAttempts: 10, Budget: retry.NewBudget(1000, 8)}
	fn := failThenSucceed(8)
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		if err := retry.Do(ctx, p, fn); err != nil {
			t.Fatal(err)
		}
	}))
}

func BenchmarkDoSuccess(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	ok := func(*retry.Attempt) error { return nil }
	for b.Loop() {
		_ = retry.Do(ctx, retry.Policy{}, ok)
	}
}

func BenchmarkDoFail3NoDelay(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	p := retry.Policy{InitialDelay: retry.NoDelay}
	fn := failThenSucceed(3)
	for b.Loop() {
		_ = retry.Do(ctx, p, fn)
	}
}
