package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/reclaim-go/reclaim/lifecycle"
	"github.com/reclaim-go/reclaim/retry"
)

// Components start in the order they were added and stop in reverse.
func ExampleGroup() {
	g := lifecycle.New()
	for _, name := range []string{"db", "cache", "http"} {
		err := g.Add(lifecycle.Component{
			Name:  name,
			Start: func(context.Context) error { fmt.Println("start", name); return nil },
			Stop:  func(context.Context) error { fmt.Println("stop", name); return nil },
		})
		if err != nil { // a taken name, a nil closer
			fmt.Println(err)
			return
		}
	}
	if err := g.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ready:", g.Ready())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // the stop budget
	defer cancel()
	fmt.Println("stop error:", g.Stop(ctx))
	// Output:
	// start db
	// start cache
	// start http
	// ready: true
	// stop http
	// stop cache
	// stop db
	// stop error: <nil>
}

// When a component fails to start, Start stops the ones that started, in
// reverse, and returns the start error joined with the stop's errors.
func ExampleGroup_Start_rollback() {
	g := lifecycle.New()
	err := errors.Join(
		g.Add(lifecycle.Component{
			Name:  "db",
			Start: func(context.Context) error { fmt.Println("db connected"); return nil },
			Stop:  func(context.Context) error { fmt.Println("db closed"); return nil },
		}),
		g.Add(lifecycle.Component{
			Name:  "migrations",
			Start: func(context.Context) error { return errors.New("schema version 41 is newer than the binary") },
		}),
		g.Add(lifecycle.Component{
			Name:  "http",
			Start: func(context.Context) error { fmt.Println("never reached"); return nil },
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.Start(context.Background()))
	// Output:
	// db connected
	// db closed
	// lifecycle: component "migrations": start: schema version 41 is newer than the binary
}

// A supervised goroutine with a restart policy is started again when it
// fails, with the policy's backoff; its context is cancelled by Stop.
func ExampleRestart() {
	g := lifecycle.New()
	runs := 0
	running := make(chan struct{})
	err := g.Go("consumer", func(ctx context.Context) error {
		runs++
		if runs < 3 {
			return fmt.Errorf("broker unreachable (run %d)", runs)
		}
		close(running)
		<-ctx.Done() // consume until told to stop
		return nil
	}, lifecycle.Restart(retry.Policy{
		MaxAttempts:  10,            // ten failures in a row; a run that stays up resets the count
		InitialDelay: retry.NoDelay, // a real policy waits between restarts
		OnRetry: func(n int, err error, _ time.Duration) {
			fmt.Println("restarting after:", err)
		},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := g.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	<-running
	fmt.Println("stop error:", g.Stop(context.Background()))
	// Output:
	// restarting after: broker unreachable (run 1)
	// restarting after: broker unreachable (run 2)
	// stop error: <nil>
}

// A stop hook that hangs past its share of the stop budget is abandoned
// and named in the error; the components before it are still stopped.
func ExampleGroup_Stop_hung() {
	release := make(chan struct{})
	defer close(release)
	g := lifecycle.New()
	err := errors.Join(
		g.Add(lifecycle.Component{Name: "db", Stop: func(context.Context) error {
			fmt.Println("db closed")
			return nil
		}}),
		g.Add(lifecycle.Component{Name: "exporter", Stop: func(context.Context) error {
			<-release // a flush that ignores its context
			return nil
		}}),
		g.Start(context.Background()),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = g.Stop(ctx)
	var te *lifecycle.TimeoutError
	if errors.As(err, &te) {
		fmt.Printf("abandoned: %s %s (its stack shows where it hangs: %t)\n", te.Name, te.Op, te.Stack != "")
	}
	// Output:
	// db closed
	// abandoned: exporter stop (its stack shows where it hangs: true)
}

// Run is a service's main loop: it returns when its context is done, a
// signal arrives, Stop is called or a supervised goroutine fails, after
// draining and stopping. It returns an error only when something failed.
func ExampleGroup_Run() {
	g := lifecycle.New(lifecycle.GracePeriod(10 * time.Second))
	err := errors.Join(
		g.Add(lifecycle.Component{Name: "db", Stop: func(context.Context) error {
			fmt.Println("db closed")
			return nil
		}}),
		g.Go("importer", func(ctx context.Context) error {
			return errors.New("input file truncated")
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := g.Run(context.Background()); err != nil { // also returns on SIGINT and SIGTERM
		fmt.Println("exit 1:", err)
	}
	// Output:
	// db closed
	// exit 1: lifecycle: goroutine "importer": input file truncated
}

// A clean stop is not an error: Run returns nil, and Cause says why the
// group stopped. Here the context stands for SIGTERM, which is reported as
// a *SignalError the same way.
func ExampleGroup_Cause() {
	g := lifecycle.New(lifecycle.GracePeriod(10 * time.Second))
	ctx, cancel := context.WithCancelCause(context.Background())
	err := g.Add(lifecycle.Component{
		Name:  "db",
		Start: func(context.Context) error { cancel(errors.New("batch finished")); return nil },
		Stop:  func(context.Context) error { fmt.Println("db closed"); return nil },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := g.Run(ctx); err != nil {
		fmt.Println("exit 1:", err)
		return
	}
	fmt.Println("stopped cleanly:", g.Cause())
	// Output:
	// db closed
	// stopped cleanly: lifecycle: context done: batch finished
}

// Without Run, Done tells code that started the group that it stopped
// itself, here because a supervised goroutine failed; Err says what failed.
func ExampleGroup_Done() {
	g := lifecycle.New()
	err := errors.Join(
		g.Go("watcher", func(context.Context) error { return errors.New("inotify limit reached") }),
		g.Start(context.Background()),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	<-g.Done()
	fmt.Println(g.Err())
	// Output:
	// lifecycle: goroutine "watcher": inotify limit reached
}

// HTTPServer serves on a listener; the readiness probe answers 503 from
// the start of the drain, before the listener closes.
func ExampleHTTPServer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	g := lifecycle.New(lifecycle.DrainDelay(5 * time.Second))
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", g.Readiness())
	// From here on the group owns ln: it closes it, even if it never
	// serves. If Add fails, ln is still ours.
	if err := g.Add(lifecycle.HTTPServer("http", &http.Server{Handler: mux}, ln)); err != nil {
		ln.Close()
		fmt.Println(err)
		return
	}
	if err := g.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + ln.Addr().String() + "/readyz")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("%d %s", resp.StatusCode, body)
	fmt.Println("stop error:", g.Stop(context.Background()))
	// Output:
	// 200 ready
	// stop error: <nil>
}

// CheckLeaks finds goroutines that the group's hooks started and that
// outlived Stop, and only those: it works in parallel tests.
func ExampleGroup_CheckLeaks() {
	quit := make(chan struct{})
	defer close(quit)
	g := lifecycle.New()
	err := errors.Join(
		g.Add(lifecycle.Component{
			Name: "cache",
			Start: func(context.Context) error {
				go func() { <-quit }() // an evictor that Stop forgets
				return nil
			},
			Stop: func(context.Context) error { return nil },
		}),
		g.Start(context.Background()),
		g.Stop(context.Background()),
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var le *lifecycle.LeakError
	if errors.As(g.CheckLeaks(ctx), &le) {
		fmt.Println(le.Count, "goroutine leaked by", le.Name)
	}
	// Output:
	// 1 goroutine leaked by component "cache": start
}
