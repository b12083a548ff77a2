package migrate

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"net"
	"os"

	"github.com/reclaim-go/reclaim/internal/fds"
	"github.com/reclaim-go/reclaim/retry"
	"github.com/reclaim-go/reclaim/scope"
)

// The "after" code: the same four functions with reclaim.

// writeReportAfter reports the error of Close.
func writeReportAfter(open func(string) (file, error), name string) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)
	f, err := open(name)
	if err != nil {
		return err
	}
	s.DeferClose(f)
	_, err = f.Write([]byte("report\n"))
	return err
}

// countLinesAfter closes each file as soon as it was read, through its
// handle; the scope still closes it if reading fails.
func countLinesAfter(names []string) (lines, peak int, err error) {
	var s scope.Scope
	defer s.CloseInto(&err)
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return lines, peak, err
		}
		h := s.DeferClose(f)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines++
		}
		if n, _ := fds.Count(); n > peak {
			peak = n
		}
		if err := h.Run(); err != nil {
			return lines, peak, err
		}
	}
	return lines, peak, nil
}

// transferAfter rolls back only on failure, and a rollback that finds the
// transaction already ended by a failed Commit is not a second error.
func transferAfter(ctx context.Context, db *sql.DB, to string) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	s.OnFailure(func() error {
		if err := tx.Rollback(); !errors.Is(err, sql.ErrTxDone) {
			return err
		}
		return nil
	})
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (account, amount) VALUES (?, 10)`, to); err != nil {
		return err
	}
	return tx.Commit()
}

// dialAfter retries with a policy, and each attempt's Scope closes the
// connection of an attempt that failed before the next one starts.
func dialAfter(ctx context.Context, dial func(string) (net.Conn, error), addr string) (net.Conn, error) {
	policy := retry.Policy{MaxAttempts: 5, InitialDelay: retry.NoDelay}
	return retry.Value(ctx, policy, func(a *retry.Attempt) (net.Conn, error) {
		c, err := dial(addr)
		if err != nil {
			return nil, err
		}
		a.Scope().OnFailure(c.Close) // kept when the attempt succeeds
		return c, handshake(c)
	})
}
