package handles_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/pool/handles"
)

// openFDs counts this process's open file descriptors. The count includes
// the descriptor that reads the directory, so two counts compare fairly.
func openFDs(t testing.TB) int {
	entries, err := os.ReadDir("/proc/self/fd")
	assert.NoError(t, err) // not require: the sampler calls it from its own goroutine
	return len(entries)
}

// TestCacheKeepsRealFileDescriptorsWithinMaxOpen reads hundreds of
// temporary files through a Cache from concurrent readers, while a
// sampler watches /proc/self/fd: the process must never hold more than
// MaxOpen descriptors beyond its start, plus one per reader (a reader may
// hold a handle beyond MaxOpen when every open handle is held); no read may
// hit a closed file; and Close must give every descriptor back.
func TestCacheKeepsRealFileDescriptorsWithinMaxOpen(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd")
	}
	const (
		files   = 300
		readers = 8
		reads   = 1500 // per reader
		maxOpen = 24
	)
	dir := t.TempDir()
	content := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("file %03d\n", i)), 50) }
	names := make([]string, files)
	for i := range names {
		names[i] = filepath.Join(dir, fmt.Sprintf("f%03d", i))
		require.NoError(t, os.WriteFile(names[i], content(i), 0o600))
	}

	start := openFDs(t)
	h, err := handles.New(handles.Config[int, *os.File]{
		Open:        func(_ context.Context, i int) (*os.File, error) { return os.Open(names[i]) },
		IdleTimeout: time.Millisecond,
		MaxOpen:     maxOpen,
	})
	require.NoError(t, err)

	stop := make(chan struct{})
	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := int64(openFDs(t) - start); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()

	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 42))
			buf := make([]byte, len(content(0)))
			for range reads {
				// Mostly a hot set that fits in MaxOpen, sometimes any file,
				// so that handles are both shared and evicted.
				i := rng.IntN(maxOpen / 2)
				if rng.IntN(4) == 0 {
					i = rng.IntN(files)
				}
				ref, err := h.Get(t.Context(), i)
				if !assert.NoError(t, err) {
					return
				}
				n, err := ref.Value().ReadAt(buf, 0)
				if !assert.NoError(t, err, "read %s", names[i]) {
					return
				}
				assert.Equal(t, content(i), buf[:n])
				assert.NoError(t, ref.Close())
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled

	s := h.Stats()
	t.Logf("peak descriptors over start: %d; %+v", peak.Load(), s)
	assert.LessOrEqual(t, peak.Load(), int64(maxOpen+readers))
	assert.LessOrEqual(t, s.Open, maxOpen)
	assert.NotZero(t, s.MaxOpenEvictions, "the test did not exercise MaxOpen")
	assert.NotZero(t, s.Hits, "the test did not share handles")

	require.NoError(t, h.Close(t.Context()))
	assert.Equal(t, start, openFDs(t), "descriptors left open after Close")
}
