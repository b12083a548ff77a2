package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTour runs every example in this process, as `go run ./examples/tour`
// does, and checks the leak report at the end.
func TestTour(t *testing.T) {
	var out strings.Builder
	require.NoError(t, tour(&out, nil), out.String())
	assert.Contains(t, out.String(), "100 failed on purpose")
	assert.Contains(t, out.String(), "nothing leaked")
}

func TestTourRunsOnlyTheNamedExamples(t *testing.T) {
	var out strings.Builder
	require.NoError(t, tour(&out, []string{"files"}))
	assert.Contains(t, out.String(), "1. files:")
	assert.Error(t, tour(&out, []string{"nope"}))
}
