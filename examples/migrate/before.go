package migrate

import (
	"bufio"
	"context"
	"database/sql"
	"net"
	"os"

	"github.com/reclaim-go/reclaim/internal/fds"
)

// The "before" code: what hand-written defer chains look like in the wild.
// Each function has the bug its comment names. Do not copy them.

// writeReportBefore loses the error of Close: the data may never have
// reached the disk, and the caller is told that all went well.
func writeReportBefore(open func(string) (file, error), name string) error {
	f, err := open(name)
	if err != nil {
		return err
	}
	defer f.Close() // BUG: the error of Close is dropped
	_, err = f.Write([]byte("report\n"))
	return err
}

// countLinesBefore defers in a loop: every file stays open until the
// function returns. It reports the most descriptors it held at once.
func countLinesBefore(names []string) (lines, peak int, err error) {
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return lines, peak, err
		}
		defer f.Close() // BUG: held until the loop is over
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines++
		}
		if n, _ := fds.Count(); n > peak {
			peak = n
		}
	}
	return lines, peak, nil
}

// transferBefore rolls back after a failed Commit, and the rollback's
// error replaces the commit's: the caller sees "transaction has already been
// committed or rolled back" instead of the constraint that failed.
func transferBefore(ctx context.Context, db *sql.DB, to string) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil {
				err = rerr // BUG: hides the real error
			}
		}
	}()
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (account, amount) VALUES (?, 10)`, to); err != nil {
		return err
	}
	return tx.Commit()
}

// dialBefore retries a handshake, and leaks the connection of every
// attempt that failed after dialing.
func dialBefore(dial func(string) (net.Conn, error), addr string) (net.Conn, error) {
	var lastErr error
	for range 5 {
		c, err := dial(addr)
		if err != nil {
			lastErr = err
			continue
		}
		if err := handshake(c); err != nil {
			lastErr = err
			continue // BUG: c is never closed
		}
		return c, nil
	}
	return nil, lastErr
}
