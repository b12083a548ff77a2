package bench

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"runtime"
	"testing"

	"github.com/jackc/puddle/v2"

	"github.com/reclaim-go/reclaim/pool"
)

// benchConn stands for a connection: pointer-shaped, free to make, so that
// the benchmarks measure the pools' bookkeeping.
type benchConn struct{ uses int }

func (c *benchConn) Close() error { return nil }

func openBenchConn(context.Context) (*benchConn, error) { return &benchConn{}, nil }

// poolImpl is one implementation of "lend a connection, give it back".
type poolImpl struct {
	name string
	// setup returns a pool of size n, already full of idle connections,
	// one acquire-use-release cycle on it, and its teardown.
	setup func(b *testing.B, n int) (cycle func(context.Context), teardown func())
}

var poolImpls = []poolImpl{
	{"reclaim", setupReclaimPool},
	{"puddle", setupPuddlePool},
	{"chan", setupChanPool},
	{"sqldb", setupSQLPool},
}

// BenchmarkPoolUncontended: Acquire + Release on a pool of 64, from
// GOMAXPROCS goroutines: nobody ever waits.
func BenchmarkPoolUncontended(b *testing.B) {
	for _, impl := range poolImpls {
		b.Run(impl.name, func(b *testing.B) { runPoolBench(b, impl, 64, 1) })
	}
}

// BenchmarkPoolContended: Acquire + Release on a pool of 8, from 64
// goroutines: most Acquires wait for a release.
func BenchmarkPoolContended(b *testing.B) {
	for _, impl := range poolImpls {
		b.Run(impl.name, func(b *testing.B) {
			runPoolBench(b, impl, 8, max(1, 64/runtime.GOMAXPROCS(0)))
		})
	}
}

func runPoolBench(b *testing.B, impl poolImpl, size, parallelism int) {
	cycle, teardown := impl.setup(b, size)
	defer teardown()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cycle(ctx)
		}
	})
}

func setupReclaimPool(b *testing.B, n int) (func(context.Context), func()) {
	p, err := pool.New(pool.Config[*benchConn]{Open: openBenchConn, MaxSize: n, MaxConstructing: n})
	if err != nil {
		b.Fatal(err)
	}
	leases := make([]pool.Lease[*benchConn], n)
	for i := range leases {
		if leases[i], err = p.Acquire(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	for _, l := range leases {
		l.Release()
	}
	cycle := func(ctx context.Context) {
		l, err := p.Acquire(ctx)
		if err != nil {
			panic(err)
		}
		l.Value().uses++
		l.Release()
	}
	return cycle, func() {
		if err := p.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func setupPuddlePool(b *testing.B, n int) (func(context.Context), func()) {
	p, err := puddle.NewPool(&puddle.Config[*benchConn]{
		Constructor: openBenchConn,
		Destructor:  func(c *benchConn) { c.Close() },
		MaxSize:     int32(n),
	})
	if err != nil {
		b.Fatal(err)
	}
	for range n {
		if err := p.CreateResource(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	cycle := func(ctx context.Context) {
		r, err := p.Acquire(ctx)
		if err != nil {
			panic(err)
		}
		r.Value().uses++
		r.Release()
	}
	return cycle, p.Close
}

// setupChanPool is the lower bound: a buffered channel of connections,
// with no bookkeeping, no context and no growth.
func setupChanPool(_ *testing.B, n int) (func(context.Context), func()) {
	ch := make(chan *benchConn, n)
	for range n {
		c, _ := openBenchConn(context.Background())
		ch <- c
	}
	cycle := func(context.Context) {
		c := <-ch
		c.uses++
		ch <- c
	}
	return cycle, func() {}
}

func setupSQLPool(b *testing.B, n int) (func(context.Context), func()) {
	db := sql.OpenDB(benchConnector{})
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := db.Conn(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
	}
	for _, c := range conns {
		c.Close()
	}
	cycle := func(ctx context.Context) {
		c, err := db.Conn(ctx)
		if err != nil {
			panic(err)
		}
		c.Close()
	}
	return cycle, func() { db.Close() }
}

// benchConnector is a trivial database/sql driver: its connections do
// nothing, so that only database/sql's pool is measured.
type benchConnector struct{}

func (benchConnector) Connect(context.Context) (driver.Conn, error) { return benchSQLConn{}, nil }
func (benchConnector) Driver() driver.Driver                        { return benchDriver{} }

type benchDriver struct{}

func (benchDriver) Open(string) (driver.Conn, error) { return benchSQLConn{}, nil }

type benchSQLConn struct{}

var errBenchSQL = errors.New("bench: the trivial driver runs no statements")

func (benchSQLConn) Prepare(string) (driver.Stmt, error) { return nil, errBenchSQL }
func (benchSQLConn) Close() error                        { return nil }
func (benchSQLConn) Begin() (driver.Tx, error)           { return nil, errBenchSQL }
