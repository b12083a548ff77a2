package retry

import (
	"fmt"
	"math"
	"sync/atomic"
)

// A Budget limits retries across all the calls that share it, so that a
// fleet of clients answers an outage with fewer requests, not several times
// as many. It is the token bucket of gRPC's retry throttling (gRFC A6):
//
//   - the bucket starts full, with maxTokens tokens;
//   - every failed attempt whose error is retryable takes one token, and
//     every successful call gives back tokenRatio tokens, never beyond
//     maxTokens;
//   - a retry is allowed only while more than maxTokens/2 tokens are left.
//
// So with NewBudget(10, 0.1), five failed attempts in a row stop every
// retry; after that, about ten successes pay for each further retry.
// Failures whose error is not retryable take no token. The first attempt
// of a call is never refused: the budget throttles retries, not traffic. A
// call refused a retry returns an [*Error] with Reason [ErrThrottled].
// The zero Budget has no tokens and refuses every retry: use NewBudget.
//
// A Budget is safe for concurrent use and lock-free. It must not be copied
// after first use; share it by pointer, typically through a Policy kept in
// a package variable.
type Budget struct {
	milli    atomic.Int64 // tokens, in thousandths of a token
	max      int64        // maxTokens, in thousandths
	ratio    int64        // tokenRatio, in thousandths
	halfFull int64        // max / 2
}

// maxBudgetTokens keeps the arithmetic in thousandths far from overflow.
const maxBudgetTokens = 1 << 40

// NewBudget returns a full Budget of maxTokens tokens, refilled by tokenRatio
// tokens on every success. tokenRatio is kept to three decimal places, as in
// gRPC; gRPC's own defaults are 10 and 0.1. NewBudget panics if maxTokens is
// not positive or tokenRatio is not in (0, maxTokens]: a budget is
// configured once, with constants.
func NewBudget(maxTokens int, tokenRatio float64) *Budget {
	if maxTokens <= 0 || int64(maxTokens) > maxBudgetTokens {
		panic(fmt.Sprintf("retry: NewBudget: maxTokens %d must be in [1, 2^40]", maxTokens))
	}
	ratio := math.Round(tokenRatio * 1000)
	if !(ratio >= 1 && ratio <= float64(maxTokens)*1000) {
		panic(fmt.Sprintf("retry: NewBudget: tokenRatio %v must be in [0.001, maxTokens]", tokenRatio))
	}
	b := &Budget{max: int64(maxTokens) * 1000, ratio: int64(ratio)}
	b.halfFull = b.max / 2
	b.milli.Store(b.max)
	return b
}

// Tokens returns the number of tokens left.
func (b *Budget) Tokens() float64 {
	return float64(b.milli.Load()) / 1000
}

// fail takes a token for a failed attempt and reports whether a retry is
// still allowed.
func (b *Budget) fail() bool {
	for {
		old := b.milli.Load()
		n := max(old-1000, 0)
		if b.milli.CompareAndSwap(old, n) {
			return n > b.halfFull
		}
	}
}

// succeed gives back tokenRatio tokens for a successful call.
func (b *Budget) succeed() {
	for {
		old := b.milli.Load()
		if old >= b.max {
			return
		}
		if b.milli.CompareAndSwap(old, min(old+b.ratio, b.max)) {
			return
		}
	}
}
