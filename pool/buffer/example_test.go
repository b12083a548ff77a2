package buffer_test

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/reclaim-go/reclaim/pool/buffer"
	"github.com/reclaim-go/reclaim/scope"
)

// Borrow a buffer from the default pool, sized for what is about to be
// written, and give it back when done.
func ExampleGet() {
	b := buffer.Get(64)
	defer b.Close()

	fmt.Fprintf(b, "%s=%d;", "answer", 42)
	b.WriteString("done")
	fmt.Println(b.String(), b.Len())
	// Output: answer=42;done 14
}

// A Buffer is an io.Closer, so a Scope gives it back with the other
// resources of the function, whatever path the function leaves by.
func ExampleBuffer_scope() {
	render := func(name string) (_ string, err error) {
		var s scope.Scope
		defer s.CloseInto(&err)

		b := buffer.Get(256)
		s.DeferClose(b)
		if _, err := io.Copy(b, strings.NewReader("hello, ")); err != nil {
			return "", err
		}
		b.WriteString(name)
		return b.String(), nil
	}
	fmt.Println(render("gopher"))
	// Output: hello, gopher <nil>
}

// A pool of its own, for a service whose payloads reach 1 MiB, that keeps at
// most 4 MiB parked and wipes buffers that held secrets.
func ExampleNewPool() {
	secrets, err := buffer.NewPool(
		buffer.MaxSize(1<<20),
		buffer.MaxRetained(4<<20),
		buffer.ZeroOnClose(true),
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	b := secrets.Get(1000) // capacity 1024: the smallest class that fits
	b.WriteString("token=s3cr3t")
	b.Close() // zeroed and parked

	huge := secrets.Get(3 << 20) // a hint above MaxSize gets MaxSize...
	huge.Write(make([]byte, 3<<20))
	huge.Close() // ...and once grown past it, it is zeroed and dropped

	st := secrets.Stats()
	// sync.Pool may drop what it holds (at any collection, and at random
	// under the race detector), so the 1 KiB parked above is an upper bound.
	fmt.Println("parked at most 1 KiB:", st.RetainedBytes <= 1024, "drops:", st.Drops)

	_, err = buffer.NewPool(buffer.MaxRetained(1 << 10))
	fmt.Println(err)
	// Output:
	// parked at most 1 KiB: true drops: 1
	// buffer: MaxRetained must be at least MaxSize (65536), got 1024
}

// With poisoning on, as in tests run with RECLAIM_POISON=1, a Buffer used
// after Close panics even once its memory has gone to another holder.
func ExamplePoisonOnClose() {
	p, _ := buffer.NewPool(buffer.PoisonOnClose(true))
	b := p.Get(100)
	b.Close()
	next := p.Get(100) // may be b's memory, never b itself
	defer next.Close()

	defer func() { fmt.Println(recover()) }()
	b.WriteString("too late")
	fmt.Fprintln(os.Stderr, "not reached")
	// Output: buffer: Buffer used after Close
}
