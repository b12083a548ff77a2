package stack_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/stack"
	"github.com/reclaim-go/reclaim/scope/scopetest"
)

func TestMain(m *testing.M) { scopetest.VerifyTestMain(m) }

func captureHere() stack.Trace { return stack.Capture(0) }

func TestCaptureNamesCaller(t *testing.T) {
	tr := captureHere()
	require.False(t, tr.Empty())
	s := tr.String()
	assert.True(t, strings.HasPrefix(s, "github.com/reclaim-go/reclaim/internal/stack_test.captureHere\n"), s)
	assert.Contains(t, s, "TestCaptureNamesCaller")
	assert.NotContains(t, s, "runtime.Callers")
}

func TestZeroTrace(t *testing.T) {
	var tr stack.Trace
	assert.True(t, tr.Empty())
	assert.Equal(t, "", tr.String())
}

func callerOf() uintptr { return stack.Caller(0) }

func TestCallerAndSite(t *testing.T) {
	pc := callerOf() // this line is the site
	site, fn := stack.Site(pc)
	assert.Contains(t, site, "stack_test.go:")
	assert.True(t, strings.HasSuffix(fn, "TestCallerAndSite"), fn)
	site, fn = stack.Site(0)
	assert.Empty(t, site)
	assert.Empty(t, fn)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = callerOf() }))
}

func TestGoroutineFindsBlockedGoroutine(t *testing.T) {
	idc := make(chan uint64)
	release := make(chan struct{})
	go func() {
		idc <- stack.CurrentID()
		<-release
	}()
	id := <-idc
	require.NotZero(t, id)
	g := stack.Goroutine(id)
	close(release)
	assert.Contains(t, g, "TestGoroutineFindsBlockedGoroutine")
	assert.Equal(t, "", stack.Goroutine(1<<62))
}

func TestAllHoldsEveryGoroutine(t *testing.T) {
	release := make(chan struct{})
	go func() { <-release }()
	all := string(stack.All())
	close(release)
	assert.Contains(t, all, "TestAllHoldsEveryGoroutine")
	assert.GreaterOrEqual(t, strings.Count(all, "goroutine "), 2)
}
