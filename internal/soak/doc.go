// Package soak holds the fault-injection soak test of reclaim: a randomized
// workload over every package together, the way a service uses them, in
// which every user callback (cleanups, Open/Close/HealthCheck, Retryable,
// OnRetry, start and stop hooks, supervised goroutines) ends in one of the
// ways of the fault model (see internal/fault), chosen from a seed.
//
// While it runs and at the end it checks the invariants that reclaim
// promises: no resource held by two holders at once, every resource opened
// closed exactly once, every Close or Stop given a deadline back within it
// (plus a stated slack), every injected error and panic observed exactly
// once, and descriptors and goroutines back to where they started.
//
// CI runs it briefly under -race, with fixed seeds and one random seed that
// it prints. To soak for longer, or to replay a seed:
//
//	go test ./internal/soak -run Soak -soak.duration=10m -soak.seed=N
//
// A failure prints the seed and the log of the operations that led to it.
// The package has no code outside its tests.
package soak
