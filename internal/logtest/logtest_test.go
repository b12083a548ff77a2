package logtest_test

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/reclaim-go/reclaim/internal/logtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDefaultCapturesUntilTheTestEnds(t *testing.T) {
	prev := slog.Default()
	t.Run("captured", func(t *testing.T) {
		logs := logtest.Default(t)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); slog.Error("from a goroutine") }()
		}
		wg.Wait()
		assert.Equal(t, 4, countLines(logs.String()))
	})
	assert.Same(t, prev, slog.Default(), "restored when the test ended")
}

func countLines(s string) (n int) {
	for _, c := range s {
		if c == '\n' {
			n++
		}
	}
	return n
}
