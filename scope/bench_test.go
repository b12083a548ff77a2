package scope_test

import (
	"testing"

	"github.com/reclaim-go/reclaim/scope"
)

var benchErr error

func BenchmarkScopeDeferClose8(b *testing.B) {
	var cs [8]nopCloser
	b.ReportAllocs()
	for b.Loop() {
		var s scope.Scope
		for i := range cs {
			s.DeferClose(&cs[i])
		}
		benchErr = s.Close()
	}
}

func BenchmarkScopeNewDeferClose(b *testing.B) {
	var c nopCloser
	b.ReportAllocs()
	for b.Loop() {
		s := scope.New()
		s.DeferClose(&c)
		benchErr = s.Close()
	}
}

func BenchmarkScopeRecordSites(b *testing.B) {
	var c nopCloser
	s := scope.New(scope.RecordSites(true))
	b.ReportAllocs()
	for b.Loop() {
		h := s.DeferClose(&c)
		benchErr = h.Run()
	}
}

func BenchmarkHandleRunInLoop(b *testing.B) {
	var c nopCloser
	var s scope.Scope
	b.ReportAllocs()
	for b.Loop() {
		h := s.DeferClose(&c)
		benchErr = h.Run()
	}
}
