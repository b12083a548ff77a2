package pool_test

import (
	"context"
	"fmt"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/reclaim-go/reclaim/pool"
)

// With LeakThreshold set (or RECLAIM_LEAKS=sampled or full), the leases out
// are listed in the pprof profile reclaim.leases with the stack that
// acquired them: a service that mounts net/http/pprof serves it at
// /debug/pprof/reclaim.leases, for `go tool pprof`.
func ExampleConfig_leakThreshold() {
	p, err := pool.New(pool.Config[*client]{
		Open:          func(ctx context.Context) (*client, error) { return &client{}, nil },
		MaxSize:       4,
		LeakThreshold: time.Minute, // a lease held longer is logged
	})
	if err != nil {
		panic(err)
	}
	defer p.Close(context.Background())
	l, err := p.Acquire(context.Background())
	if err != nil {
		panic(err)
	}
	profile := pprof.Lookup("reclaim.leases")
	var b strings.Builder
	_ = profile.WriteTo(&b, 1)
	fmt.Println("leases out:", profile.Count())
	fmt.Println("acquired here:", strings.Contains(b.String(), "ExampleConfig_leakThreshold"))
	l.Release()
	fmt.Println("leases out after Release:", profile.Count())
	// Output:
	// leases out: 1
	// acquired here: true
	// leases out after Release: 0
}
