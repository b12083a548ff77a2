package scope_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/scope"
)

// The paired acquire/release pattern: register the release as soon as the
// acquire succeeded; Close releases in reverse order.
func ExampleScope() {
	var mu sync.Mutex
	var s scope.Scope

	f, err := os.CreateTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	s.DeferFunc(func() { os.Remove(f.Name()) })
	s.DeferClose(f)

	mu.Lock()
	s.DeferFunc(mu.Unlock)
	s.DeferFunc(func() { fmt.Println("unlocked first, then the file is closed and removed") })

	fmt.Println("pending cleanups:", s.Len())
	fmt.Println("close error:", s.Close())
	// Output:
	// pending cleanups: 4
	// unlocked first, then the file is closed and removed
	// close error: <nil>
}

// failingCloser stands for a file whose buffered data cannot be flushed.
type failingCloser struct{ name string }

func (c failingCloser) Close() error { return fmt.Errorf("close %s: disk full", c.name) }

// CloseInto is deferred with a named error result: the body's error comes
// first and the cleanups' errors follow; none is lost.
func ExampleScope_CloseInto() {
	save := func(fail bool) (err error) {
		var s scope.Scope
		defer s.CloseInto(&err)
		s.DeferClose(failingCloser{"report.csv"})
		if fail {
			return errors.New("encode: bad row")
		}
		return nil
	}
	fmt.Println(save(false))
	for _, err := range multierr.Errors(save(true)) {
		fmt.Println(err)
	}
	// Output:
	// close report.csv: disk full
	// encode: bad row
	// close report.csv: disk full
}

type tx struct{ done bool }

func (t *tx) Commit() error { t.done = true; fmt.Println("commit"); return nil }
func (t *tx) Rollback() error {
	if t.done {
		return errors.New("rollback after commit")
	}
	fmt.Println("rollback")
	return nil
}

// OnFailure registers a rollback that runs only when the work failed.
func ExampleScope_OnFailure() {
	transfer := func(amount int) (err error) {
		var s scope.Scope
		defer s.CloseInto(&err)
		t := &tx{}
		s.OnFailure(t.Rollback)
		if amount < 0 {
			return fmt.Errorf("negative amount %d", amount)
		}
		return t.Commit()
	}
	fmt.Println(transfer(10))
	fmt.Println(transfer(-1))
	// Output:
	// commit
	// <nil>
	// rollback
	// negative amount -1
}

type store struct {
	files  []*os.File
	closer *scope.Scope
}

func (st *store) Close() error { return st.closer.Close() }

// openStore is a constructor that opens several files: if any fails, the
// ones already open are closed; if all succeed, the caller owns them.
func openStore(dir string, names ...string) (_ *store, err error) {
	var s scope.Scope
	defer s.CloseInto(&err)
	st := &store{}
	for _, name := range names {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		s.DeferClose(f)
		st.files = append(st.files, f)
	}
	st.closer = s.Release() // hand over; the deferred CloseInto finds s empty
	return st, nil
}

func ExampleScope_Release() {
	dir, _ := os.MkdirTemp("", "store")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "a"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "b"), nil, 0o600)

	_, err := openStore(dir, "a", "b", "missing")
	fmt.Println("failed:", errors.Is(err, os.ErrNotExist))

	st, err := openStore(dir, "a", "b")
	fmt.Println("opened:", len(st.files), err)
	fmt.Println("closed:", st.Close())
	// Output:
	// failed: true
	// opened: 2 <nil>
	// closed: <nil>
}

// A Handle closes one file early, inside a loop, while the scope still
// guards the error paths.
func ExampleHandle() {
	dir, _ := os.MkdirTemp("", "loop")
	defer os.RemoveAll(dir)

	var s scope.Scope
	for i := range 3 {
		f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			break // the scope closes what is open
		}
		h := s.DeferClose(f)
		fmt.Fprintln(f, "line", i)
		fmt.Println("close", i, h.Run(), "pending", s.Len())
	}
	fmt.Println(s.Close())
	// Output:
	// close 0 <nil> pending 0
	// close 1 <nil> pending 0
	// close 2 <nil> pending 0
	// <nil>
}

// Run closes its scope as failed when the function fails, and its cleanups
// run with a context that the request's cancellation does not reach.
func ExampleRun() {
	ctx, cancel := context.WithCancel(context.Background())
	err := scope.Run(ctx, func(ctx context.Context, s *scope.Scope) error {
		s.DeferContext(func(ctx context.Context) error {
			fmt.Println("cleanup sees cancellation:", ctx.Err())
			return nil
		})
		s.OnFailure(func() error { fmt.Println("rolled back"); return nil })
		cancel() // the client went away
		return ctx.Err()
	})
	fmt.Println(err)
	// Output:
	// rolled back
	// cleanup sees cancellation: <nil>
	// context canceled
}

// With site recording, a cleanup's error says where it was registered.
func ExampleRecordSites() {
	s := scope.New(scope.RecordSites(true))
	s.DeferClose(failingCloser{"db.sqlite"})
	var ce *scope.CleanupError
	if errors.As(s.Close(), &ce) {
		fmt.Println(ce.Cleanup)
		fmt.Println(filepath.Base(ce.Site) != "", ce.Err)
	}
	// Output:
	// (scope_test.failingCloser).Close
	// true close db.sqlite: disk full
}

// CleanupTimeout bounds each context cleanup: a shutdown that overruns is
// named in the error and the unwinding goes on.
func ExampleCleanupTimeout() {
	s := scope.New(scope.CleanupTimeout(10 * time.Millisecond))
	s.DeferFunc(func() { fmt.Println("older cleanup still runs") })
	s.DeferContext(func(ctx context.Context) error {
		<-ctx.Done() // a shutdown that takes too long
		return ctx.Err()
	})
	err := s.Close()
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output:
	// older cleanup still runs
	// true
}

// runtime.Goexit, which t.FailNow and t.SkipNow call, runs deferred calls:
// Run closes its scope as failed. os.Exit runs none, so cleanups do not run
// at all: close scopes before calling it.
func ExampleRun_goexit() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = scope.Run(context.Background(), func(ctx context.Context, s *scope.Scope) error {
			s.DeferFunc(func() { fmt.Println("file closed") })
			s.OnFailure(func() error { fmt.Println("rolled back: the goroutine exited mid-way"); return nil })
			runtime.Goexit()
			return nil
		})
	}()
	<-done
	// Output:
	// rolled back: the goroutine exited mid-way
	// file closed
}
