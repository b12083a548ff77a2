// Package migrate shows, side by side and both runnable, the ad hoc defer
// chains that reclaim replaces ("before") and the same code with reclaim
// ("after"), and measures what the bugs cost: a lost Close error, a defer in
// a loop holding every file open, a rollback that hides why Commit failed,
// and a retry loop that leaks a connection per failed attempt.
//
// Run it with `go run ./examples/tour migrate`.
package migrate

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/reclaim-go/reclaim/examples/tcppool"
	"github.com/reclaim-go/reclaim/internal/fds"
	"github.com/reclaim-go/reclaim/scope"
)

var (
	errBusy     = errors.New("server busy")
	errDiskFull = errors.New("flush: no space left on device")
)

// file is what writeReport needs of an *os.File.
type file interface {
	io.Writer
	io.Closer
}

// fullDisk is an *os.File whose Close fails as a flush to a full disk does:
// the one fault here that must be injected.
type fullDisk struct{ *os.File }

func (f fullDisk) Close() error { return errors.Join(f.File.Close(), errDiskFull) }

// connLog remembers every connection dialed, so that the demo can count what
// the before code leaked and then close it, keeping the tour's own leak
// check honest.
type connLog struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connLog) dial(addr string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *connLog) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// result is what one side measured.
type result struct {
	closeErrReported bool
	peakFiles        int
	commitErr        string
	leakedConns      int32
}

// Main runs both sides on the same real resources and prints the
// comparison. It fails if the after side shows any of the bugs.
func Main(w io.Writer) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)

	dir, err := os.MkdirTemp("", "reclaim-migrate")
	if err != nil {
		return err
	}
	s.Defer(func() error { return os.RemoveAll(dir) })

	var names []string
	for i := range 50 {
		name := filepath.Join(dir, fmt.Sprintf("in-%02d.txt", i))
		if err := os.WriteFile(name, []byte("one line\n"), 0o600); err != nil {
			return err
		}
		names = append(names, name)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "db.sqlite")+"?_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	s.DeferClose(db)
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`
		CREATE TABLE accounts (name TEXT PRIMARY KEY);
		CREATE TABLE ledger (account TEXT REFERENCES accounts(name) DEFERRABLE INITIALLY DEFERRED, amount INTEGER);
		INSERT INTO accounts VALUES ('alice');`); err != nil {
		return err
	}

	// The backend of the tcppool example: its handshake fails while it
	// refuses, and it counts the connections still open.
	srv, err := tcppool.StartBackend(0)
	if err != nil {
		return err
	}
	s.DeferClose(srv)

	openFull := func(name string) (file, error) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		return fullDisk{f}, nil
	}
	base, err := fds.Count()
	if err != nil {
		return err
	}
	ctx := context.Background()
	var before, after result

	// Before.
	before.closeErrReported = writeReportBefore(openFull, "before.txt") != nil
	if _, before.peakFiles, err = countLinesBefore(names); err != nil {
		return err
	}
	before.commitErr = fmt.Sprint(transferBefore(ctx, db, "mallory"))
	var log connLog
	srv.Refuse(3)
	c, err := dialBefore(log.dial, srv.Addr())
	if err != nil {
		return err
	}
	c.Close()
	before.leakedConns = srv.LiveSettled(-1)
	log.closeAll() // clean up after the bug, for the tour's own leak check
	srv.LiveSettled(-1)

	// After.
	after.closeErrReported = errors.Is(writeReportAfter(openFull, "after.txt"), errDiskFull)
	if _, after.peakFiles, err = countLinesAfter(names); err != nil {
		return err
	}
	after.commitErr = fmt.Sprint(transferAfter(ctx, db, "mallory"))
	srv.Refuse(3)
	c, err = dialAfter(ctx, log.dial, srv.Addr())
	if err != nil {
		return err
	}
	c.Close()
	after.leakedConns = srv.LiveSettled(-1)
	log.closeAll()

	row := func(what string, b, a any) { fmt.Fprintf(w, "%-42s %-10v %v\n", what, b, a) }
	row("", "before", "after")
	row("Close error (disk full) reported", before.closeErrReported, after.closeErrReported)
	row("descriptors held at once, 50 files", before.peakFiles-base, after.peakFiles-base)
	row("connections leaked by 3 failed handshakes", before.leakedConns, after.leakedConns)
	fmt.Fprintf(w, "failed commit, before: %s\n", before.commitErr)
	fmt.Fprintf(w, "failed commit, after:  %s\n", after.commitErr)

	if !after.closeErrReported || after.peakFiles-base != 1 || after.leakedConns != 0 ||
		!strings.Contains(after.commitErr, "FOREIGN KEY") {
		return errors.New("migrate: the after side shows a bug")
	}
	return nil
}

// handshake sends HELLO and expects OK, the protocol of the tcppool
// example's backend.
func handshake(c net.Conn) error {
	if _, err := io.WriteString(c, "HELLO\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "OK\n" {
		return errBusy
	}
	return nil
}
