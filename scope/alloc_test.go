package scope_test

import (
	"os"
	"testing"

	"github.com/reclaim-go/reclaim/scope"
	"github.com/stretchr/testify/assert"
)

type nopCloser struct{ closed int }

func (c *nopCloser) Close() error { c.closed++; return nil }

func TestStackScopeWithEightClosersAllocatesNothing(t *testing.T) {
	var cs [8]nopCloser
	allocs := testing.AllocsPerRun(1000, func() {
		var s scope.Scope
		for i := range cs {
			s.DeferClose(&cs[i])
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
	assert.Equal(t, 1001, cs[0].closed)
}

func TestNewWithLeakDetectionOffAllocatesOnlyTheScope(t *testing.T) {
	if v := os.Getenv("RECLAIM_LEAKS"); v != "" && v != "off" {
		t.Skip("RECLAIM_LEAKS turns leak detection on")
	}
	var cs [8]nopCloser
	allocs := testing.AllocsPerRun(1000, func() {
		s := scope.New()
		for i := range cs {
			s.DeferClose(&cs[i])
		}
		_ = s.Close()
	})
	assert.Equal(t, 1.0, allocs)
}
