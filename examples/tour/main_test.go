package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTour runs the tour as a user would and checks its report.
func TestTour(t *testing.T) {
	if os.Getenv("RECLAIM_TOUR_CHILD") == "1" {
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTour$")
	cmd.Env = append(os.Environ(), "RECLAIM_TOUR_CHILD=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), out.String())
	assert.Contains(t, out.String(), "100 failed on purpose, 100 outputs kept, 100 half-written outputs removed")
	assert.Contains(t, out.String(), "nothing leaked")
}
