package handles_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/reclaim-go/reclaim/pool/handles"
)

// A service that reads from many files keeps the recently used ones open,
// shares each between its readers, and closes those nobody used for a while.
func ExampleCache() {
	dir, _ := os.MkdirTemp("", "handles")
	defer os.RemoveAll(dir)
	for _, name := range []string{"a.txt", "b.txt"} {
		_ = os.WriteFile(filepath.Join(dir, name), []byte("contents of "+name), 0o600)
	}

	files, err := handles.New(handles.Config[string, *os.File]{
		Open: func(_ context.Context, name string) (*os.File, error) {
			return os.Open(filepath.Join(dir, name))
		},
		IdleTimeout: time.Minute, // close a file a minute after its last use
		MaxOpen:     100,         // and never keep more than 100 open
	})
	if err != nil {
		panic(err)
	}
	defer files.Close(context.Background())

	ctx := context.Background()
	read := func(name string) string {
		ref, err := files.Get(ctx, name)
		if err != nil {
			return err.Error()
		}
		defer ref.Close()
		buf := make([]byte, 64)
		n, _ := ref.Value().ReadAt(buf, 0)
		return string(buf[:n])
	}
	fmt.Println(read("a.txt"))
	fmt.Println(read("b.txt"))
	fmt.Println(read("a.txt")) // the same *os.File, still open

	s := files.Stats()
	fmt.Printf("open %d, idle %d, hits %d, misses %d\n", s.Open, s.Idle, s.Hits, s.Misses)
	// Output:
	// contents of a.txt
	// contents of b.txt
	// contents of a.txt
	// open 2, idle 2, hits 1, misses 2
}

// exampleConn stands for a connection to a host.
type exampleConn struct{ host string }

func (c *exampleConn) Close() error {
	fmt.Println("close", c.host)
	return nil
}

// MaxOpen closes the least recently released idle handle to make room, and
// never a handle someone holds.
func ExampleCache_maxOpen() {
	conns, _ := handles.New(handles.Config[string, *exampleConn]{
		Open: func(_ context.Context, host string) (*exampleConn, error) {
			fmt.Println("open", host)
			return &exampleConn{host}, nil
		},
		MaxOpen: 2,
	})
	ctx := context.Background()

	a, _ := conns.Get(ctx, "a")
	b, _ := conns.Get(ctx, "b")
	b.Close()
	a.Close() // a was released last, so b goes first
	c, _ := conns.Get(ctx, "c")
	c.Close()
	_ = conns.Close(ctx)
	// Output:
	// open a
	// open b
	// close b
	// open c
	// close a
	// close c
}

// Close waits for the references still held, until its context is done, and
// then says where each was taken (with TrackHolders, also its stack).
func ExampleCache_Close() {
	conns, _ := handles.New(handles.Config[string, *exampleConn]{
		Open: func(_ context.Context, host string) (*exampleConn, error) { return &exampleConn{host}, nil },
	})
	forgotten, _ := conns.Get(context.Background(), "db")

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // give up at once: a real caller would set a deadline
	err := conns.Close(ctx)
	fmt.Println(errors.Is(err, context.Canceled))
	var held *handles.HeldError
	if errors.As(err, &held) {
		fmt.Println(held.Key)
	}
	fmt.Println(forgotten.Close()) // harmless now
	// Output:
	// close db
	// true
	// db
	// <nil>
}

// A reference is closed once; closing it again, through any copy, changes
// nothing and says so.
func ExampleRef_Close() {
	files, _ := handles.New(handles.Config[string, io.Closer]{
		Open: func(context.Context, string) (io.Closer, error) { return io.NopCloser(nil), nil },
	})
	defer files.Close(context.Background())
	ref, _ := files.Get(context.Background(), "x")
	cp := ref
	fmt.Println(ref.Close())
	fmt.Println(errors.Is(cp.Close(), handles.ErrRefClosed))
	// Output:
	// <nil>
	// true
}
