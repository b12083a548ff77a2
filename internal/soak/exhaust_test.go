package soak

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reclaim-go/reclaim/pool"
	"github.com/reclaim-go/reclaim/pool/handles"
)

const exhaustEnv = "SOAK_EXHAUST_CHILD"

// TestDescriptorExhaustion runs a Pool of TCP connections and a Cache of
// files in a child process whose RLIMIT_NOFILE leaves room for only a few
// descriptors more than it has open: opens fail with "too many open
// files", the pool and the cache return those errors instead of hanging,
// and both serve again once descriptors are given back. The child checks
// that nothing leaked and prints OK.
func TestDescriptorExhaustion(t *testing.T) {
	if os.Getenv(exhaustEnv) == "1" {
		exhaustChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDescriptorExhaustion$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), exhaustEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "exhaustion: OK")
	t.Logf("child:\n%s", out)
}

func exhaustChild(t *testing.T) {
	srv := newServer(t)
	before := len(resourceFDs())
	all, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("needs /proc/self/fd")
	}
	const room = 12
	lim := syscall.Rlimit{Cur: uint64(len(all) + room), Max: uint64(len(all) + room)}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))

	// A Pool of loopback connections bigger than the room left.
	p, err := pool.New(pool.Config[net.Conn]{
		Open: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", srv.addr())
		},
		MaxSize: 40,
	})
	require.NoError(t, err)
	var leases []pool.Lease[net.Conn]
	var openErr error
	for range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		l, err := p.Acquire(ctx)
		cancel()
		if err != nil {
			openErr = err
			break
		}
		leases = append(leases, l)
	}
	require.Error(t, openErr, "the pool hit the descriptor limit")
	assert.True(t, isEMFILE(openErr) || errors.Is(openErr, context.DeadlineExceeded), "got %v", openErr)
	fmt.Printf("pool: %d connections, then %v\n", len(leases), firstLine(openErr))
	for _, l := range leases {
		l.Destroy() // gives the descriptors back
	}
	// It serves again once descriptors are free (after its Open backoff).
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		l, err := p.Acquire(ctx)
		if err != nil {
			return false
		}
		l.Release()
		return true
	}, 10*time.Second, 10*time.Millisecond, "the pool recovered")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	require.NoError(t, p.Close(ctx))
	cancel()

	// A Cache of files, as many keys as the limit allows and more.
	dir := t.TempDir()
	c, err := handles.New(handles.Config[string, *os.File]{
		Open: func(_ context.Context, name string) (*os.File, error) {
			return os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_RDWR, 0o600)
		},
		MaxOpen: 100,
	})
	require.NoError(t, err)
	var refs []handles.Ref[string, *os.File]
	for i := range 100 {
		ref, err := c.Get(context.Background(), fmt.Sprint("f", i))
		if err != nil {
			openErr = err
			break
		}
		refs = append(refs, ref)
	}
	require.True(t, isEMFILE(openErr), "the cache returned the open error: %v", openErr)
	fmt.Printf("cache: %d files held, then %v\n", len(refs), firstLine(openErr))
	for _, r := range refs {
		require.NoError(t, r.Close())
	}
	// The idle handles are still open under MaxOpen: a Get of a new key
	// must make room, or at least fail fast rather than hang.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	ref, err := c.Get(ctx, "after")
	cancel()
	if err == nil {
		require.NoError(t, ref.Close())
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	require.NoError(t, c.Close(ctx))
	cancel()
	// Once closed, the process can open files again.
	f, err := os.CreateTemp(dir, "after-close")
	require.NoError(t, err, "descriptors came back")
	require.NoError(t, f.Close())

	srv.close()
	require.Eventually(t, func() bool { return len(resourceFDs()) <= before }, 5*time.Second, 10*time.Millisecond,
		"descriptors back to where they were: %v", resourceFDs())
	fmt.Println("exhaustion: OK")
}

func isEMFILE(err error) bool {
	return errors.Is(err, syscall.EMFILE) || (err != nil && strings.Contains(err.Error(), "too many open files"))
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(fmt.Sprint(err), "\n")
	return s
}
