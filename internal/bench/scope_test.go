package bench

import (
	"io"
	"testing"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/scope"
)

// benchCloser is a pointer-shaped io.Closer whose Close does almost nothing,
// so that the benchmarks measure the bookkeeping around it.
type benchCloser struct{ n int }

func (c *benchCloser) Close() error { c.n++; return nil }

var closeSink error

func closers(n int) []io.Closer {
	cs := make([]io.Closer, n)
	for i := range cs {
		cs[i] = &benchCloser{}
	}
	return cs
}

func BenchmarkScopeClose3(b *testing.B) {
	cs := closers(3)
	b.Run("reclaim", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			closeSink = reclaim3(cs[0], cs[1], cs[2])
		}
	})
	b.Run("defer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			closeSink = defer3(cs[0], cs[1], cs[2])
		}
	})
	b.Run("multierr", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			closeSink = multierr3(cs[0], cs[1], cs[2])
		}
	})
	b.Run("lockedfloor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			closeSink = lockedFloorN(cs)
		}
	})
}

func BenchmarkScopeClose8(b *testing.B) {
	cs := closers(8)
	b.Run("reclaim", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			closeSink = reclaimN(cs)
		}
	})
	b.Run("defer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			closeSink = defer8(cs)
		}
	})
	b.Run("multierr", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			closeSink = multierr8(cs)
		}
	})
	b.Run("lockedfloor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			closeSink = lockedFloorN(cs)
		}
	})
}

func reclaim3(a, b, c io.Closer) error {
	var s scope.Scope
	s.DeferClose(a)
	s.DeferClose(b)
	s.DeferClose(c)
	return s.Close()
}

func reclaimN(cs []io.Closer) error {
	var s scope.Scope
	for _, c := range cs {
		s.DeferClose(c)
	}
	return s.Close()
}

// closeInto is the hand-written idiom: keep the first error.
func closeInto(err *error, c io.Closer) {
	if cerr := c.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

func defer3(a, b, c io.Closer) (err error) {
	defer closeInto(&err, a)
	defer closeInto(&err, b)
	defer closeInto(&err, c)
	return nil
}

// defer8 unrolls the defers: a defer in a loop would not be open-coded and
// is the very habit reclaim replaces.
func defer8(cs []io.Closer) (err error) {
	defer closeInto(&err, cs[0])
	defer closeInto(&err, cs[1])
	defer closeInto(&err, cs[2])
	defer closeInto(&err, cs[3])
	defer closeInto(&err, cs[4])
	defer closeInto(&err, cs[5])
	defer closeInto(&err, cs[6])
	defer closeInto(&err, cs[7])
	return nil
}

func multierr3(a, b, c io.Closer) (err error) {
	defer multierr.AppendInvoke(&err, multierr.Close(a))
	defer multierr.AppendInvoke(&err, multierr.Close(b))
	defer multierr.AppendInvoke(&err, multierr.Close(c))
	return nil
}

func multierr8(cs []io.Closer) (err error) {
	defer multierr.AppendInvoke(&err, multierr.Close(cs[0]))
	defer multierr.AppendInvoke(&err, multierr.Close(cs[1]))
	defer multierr.AppendInvoke(&err, multierr.Close(cs[2]))
	defer multierr.AppendInvoke(&err, multierr.Close(cs[3]))
	defer multierr.AppendInvoke(&err, multierr.Close(cs[4]))
	defer multierr.AppendInvoke(&err, multierr.Close(cs[5]))
	defer multierr.AppendInvoke(&err, multierr.Close(cs[6]))
	defer multierr.AppendInvoke(&err, multierr.Close(cs[7]))
	return nil
}
