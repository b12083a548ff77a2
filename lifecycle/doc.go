// Package lifecycle runs a service made of parts: a [Group] starts
// components in order, stops them in reverse within a deadline, supervises
// goroutines, and turns SIGTERM into a drain and a clean stop.
//
// A Group is to a service what a scope.Scope is to a function: the
// things started first are stopped last, every error is kept, and nothing
// is left running. Unlike errgroup or oklog/run, whose actors all start at
// once and stop together, a Group knows the order its parts depend on: the
// workers stop before the database they use, and the database is still
// stopped when a worker hangs.
//
//	g := lifecycle.New(lifecycle.Logger(logger), lifecycle.DrainDelay(5*time.Second))
//	mux.Handle("GET /readyz", g.Readiness())
//	if err := errors.Join(
//		g.Add(lifecycle.ContextCloser("db", db)), // a pool.Pool: Close(ctx)
//		g.Add(lifecycle.Closer("cache", cache)),  // an io.Closer
//		g.Go("indexer", indexer.Run, lifecycle.Restart(retry.Policy{MaxAttempts: 10})),
//		g.Add(lifecycle.HTTPServer("http", &http.Server{Handler: mux}, ln)),
//	); err != nil {
//		return err // a nil closer, a taken name
//	}
//	return g.Run(context.Background()) // until SIGTERM; then drain, stop; nil if clean
//
// # Components
//
// A [Component] is a name and two hooks, Start and Stop, each taking a
// context; either may be nil. [Group.Add] adds one before the group
// starts, and fails with [ErrStarted] after: the order is fixed when Start
// begins. [Closer], [ContextCloser] and [HTTPServer] make the common ones
// in one line; what they are handed belongs to the group once Add accepts
// it, and is closed exactly once, even if the component never starts. Add
// rejects a nil closer, server or listener, and a name already taken by a
// component or a goroutine, with an error naming the call.
//
// # Start
//
// [Group.Start] runs the start hooks one after the other, each in a
// goroutine of the group with its own timeout ([StartTimeout],
// [Component.StartTimeout]). When one fails, panics or overruns its
// timeout, Start stops what already started, in reverse, with a fresh stop
// budget, and returns the start error joined with that stop's errors. A
// hook that overran its timeout is abandoned, not forgotten: the stop
// that follows waits for it within its share of the budget, and stops the
// component in its place if the hook succeeded, before the components it
// depends on. A hook still running at the end of its share is left behind;
// if it succeeds later, the group stops that component then, after the
// others.
//
// A supervised goroutine or a server that fails while a start hook runs
// cancels that hook's context, with the failure as its cause, so that the
// rollback begins at once.
//
// # Stop and the stop budget
//
// [Group.Stop] stops in reverse order within one overall budget: its
// context's deadline, or the [StopTimeout] option. The budget is carved up
// as the stop goes: each component gets an equal share of what remains
// when its turn comes, so time that one does not use goes to the next
// ([Component.StopTimeout] overrides the share). A stop hook runs in a
// goroutine of the group, and its context expires a little before the end
// of its share (a tenth of it, at most 100 ms), so that a hook that honours
// its context returns in time. A hook still running at the end of its
// share is abandoned: the error names the component and holds the stack of
// the goroutine running the hook ([*TimeoutError]), showing what it is
// stuck on, and the components it depends on are still stopped. Stop is
// idempotent and safe to call concurrently; every call returns the same
// error.
//
// # Supervised goroutines
//
// [Group.Go] runs a function in a goroutine whose context is cancelled by
// Stop, by default before any component stops ([CancelGoroutinesFirst]),
// and Stop waits for it. A panic becomes a [*PanicError] with the
// goroutine's name and stack. A goroutine that returns an error or panics
// before Stop has failed, and the group shuts down, unless it runs with a
// [Restart] policy: a [retry.Policy] that restarts it with backoff and,
// when it gives up, shuts the group down. The policy bounds a failure
// streak, not the goroutine's life: a run that stayed up longer than the
// policy's longest delay ([ResetAfter]) starts the count, the elapsed time
// and the backoff over, so that MaxAttempts: 10 stops a crash loop but not
// a daemon that fails once a day. A panic in the policy's Retryable or
// OnRetry is the goroutine's failure, never the process's.
//
// # Run: signals, drain, grace period
//
// [Group.Run] is a service's main loop. It starts the group and waits for
// its context, SIGINT or SIGTERM, or a failed goroutine. It then flips the
// group to not ready, so that [Group.Readiness] answers 503 and load
// balancers stop routing to the instance while its servers still accept
// requests; after the [DrainDelay] it stops the group within what remains
// of the [GracePeriod]. A second signal cuts the drain and forces the stop
// (the hooks' contexts are cancelled, so servers close their connections);
// a third dumps every goroutine's stack to standard error and returns at
// once. Run returns as soon as the group has stopped, whoever stopped it:
// a signal, its context, [Group.Stop] called elsewhere, or a failure.
//
// A clean stop is not an error: Run returns nil when the group stopped
// because it was asked to and everything stopped cleanly, and an error
// only when something failed (a start, a goroutine, a stop hook, a
// timeout, a forced stop). Why it stopped is logged and kept:
//
//	if err := g.Run(context.Background()); err != nil {
//		log.Printf("stopped by %v, with errors: %v", g.Cause(), err)
//		os.Exit(1)
//	}
//	log.Printf("stopped cleanly: %v", g.Cause()) // lifecycle: received signal terminated
//
// Code that uses Start and Stop without Run learns that the group stopped
// itself (a supervised goroutine failed) from [Group.Done], and why from
// [Group.Err] and [Group.Cause].
//
// # Leak check
//
// Every goroutine the group starts, for hooks, supervised goroutines and
// servers, is labelled with the group, with the stack where it was asked
// for, and goroutines inherit the label from the goroutine that creates
// them. After Stop, [Group.CheckLeaks] waits briefly and reports any of
// them still running: a pool's janitor that its Close forgot, a worker's
// helper goroutine. It counts the group's goroutines only, so it works in
// parallel tests, where a process-wide check such as goleak cannot.
//
// # Logging
//
// With the [Logger] option the group logs each step through log/slog:
// components starting, started, stopping and stopped (with their names and
// durations), goroutine failures and restarts, signals, the drain, and
// abandoned hooks. Without it the group is silent.
//
// # Errors
//
// Errors are combined with [go.uber.org/multierr]: [multierr.Errors] lists
// them in the order they happened, and [errors.Is] and [errors.As] see each
// one. Hook errors are wrapped with the component's name ("lifecycle:
// component "db": stop: ..."), goroutine errors with the goroutine's.
package lifecycle
