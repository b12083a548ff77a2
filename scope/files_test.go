package scope_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/internal/fds"
	"github.com/reclaim-go/reclaim/scope"
)

func openFDs(t *testing.T) int {
	t.Helper()
	n, err := fds.Count()
	require.NoError(t, err)
	return n
}

var errHalf = errors.New("failed on purpose")

// writeOutput copies src to dst the way the package doc teaches: the output
// is removed only if anything fails, including closing it.
func writeOutput(dst, src string, fail bool) (err error) {
	s := scope.New()
	defer s.CloseInto(&err)

	in, err := os.Open(src)
	if err != nil {
		return err
	}
	s.DeferClose(in)

	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	s.OnFailure(func() error { return os.Remove(dst) })
	s.DeferClose(out)

	if _, err := out.ReadFrom(in); err != nil {
		return err
	}
	if fail {
		return errHalf
	}
	return nil
}

func TestRealFilesAreClosedAndFailedOutputsRemoved(t *testing.T) {
	dir := t.TempDir()
	before := openFDs(t)
	const n = 64
	for i := range n {
		src := filepath.Join(dir, fmt.Sprintf("in%d", i))
		require.NoError(t, os.WriteFile(src, []byte("payload"), 0o600))
		err := writeOutput(filepath.Join(dir, fmt.Sprintf("out%d", i)), src, i%2 == 1)
		if i%2 == 1 {
			require.ErrorIs(t, err, errHalf)
		} else {
			require.NoError(t, err)
		}
	}
	assert.Equal(t, before, openFDs(t), "every descriptor was closed")
	for i := range n {
		_, err := os.Stat(filepath.Join(dir, fmt.Sprintf("out%d", i)))
		if i%2 == 1 {
			assert.ErrorIs(t, err, os.ErrNotExist, "failed output %d was removed", i)
		} else {
			assert.NoError(t, err, "good output %d was kept", i)
		}
	}
}

func TestEarlyCloseInALoopHoldsOneDescriptorAtATime(t *testing.T) {
	dir := t.TempDir()
	before := openFDs(t)
	err := scope.Run(context.Background(), func(ctx context.Context, s *scope.Scope) error {
		for i := range 100 {
			f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
			if err != nil {
				return err
			}
			h := s.DeferClose(f) // still closed if the loop body fails
			if _, err := f.WriteString("x"); err != nil {
				return err
			}
			if got := openFDs(t); got != before+1 {
				return fmt.Errorf("%d descriptors open inside the loop, want %d", got, before+1)
			}
			if err := h.Run(); err != nil { // close now, keep the rest of the stack
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, before, openFDs(t))
}

func TestConstructorHandsItsFilesOverWithRelease(t *testing.T) {
	dir := t.TempDir()
	before := openFDs(t)
	open := func(names ...string) (_ *scope.Scope, err error) {
		s := scope.New()
		defer s.CloseInto(&err)
		for _, name := range names {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			s.DeferClose(f)
		}
		return s.Release(), nil
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a"), nil, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b"), nil, 0o600))

	_, err := open("a", "b", "missing")
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Equal(t, before, openFDs(t), "a failed constructor closed what it opened")

	owned, err := open("a", "b")
	require.NoError(t, err)
	assert.Equal(t, before+2, openFDs(t), "a successful one handed both files over")
	require.NoError(t, owned.Close())
	assert.Equal(t, before, openFDs(t))
}
