// Package sqlite wraps a real SQLite database's *sql.DB, *sql.Rows and
// *sql.Tx with scopes: commit on success, roll back only on failure, and no
// second error from rolling back a transaction whose Commit already failed.
// The row counts at the end prove what was kept.
//
// It uses modernc.org/sqlite, a pure-Go driver, so no C toolchain is needed.
// Run it with `go run ./examples/tour sqlite`.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/reclaim-go/reclaim/scope"
)

// ErrInsufficientFunds is the business failure that rolls a transfer back.
var ErrInsufficientFunds = errors.New("insufficient funds")

// Main runs five transfers against a fresh database: three succeed, one
// fails in the middle and one fails at Commit, on a deferred foreign key.
// Both failures roll back, and neither reports a spurious second error.
func Main(w io.Writer) (err error) {
	ctx := context.Background()
	var s scope.Scope
	defer s.CloseInto(&err)

	dir, err := os.MkdirTemp("", "reclaim-sqlite")
	if err != nil {
		return err
	}
	s.Defer(func() error { return os.RemoveAll(dir) })

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "bank.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	s.DeferClose(db) // after the RemoveAll above in the code, so before it at Close

	if _, err := db.ExecContext(ctx, `
		CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL);
		CREATE TABLE ledger (
			id INTEGER PRIMARY KEY,
			account TEXT NOT NULL REFERENCES accounts(name) DEFERRABLE INITIALLY DEFERRED,
			amount INTEGER NOT NULL);
		INSERT INTO accounts VALUES ('alice', 100), ('bob', 100), ('carol', 100);`); err != nil {
		return err
	}

	transfers := []struct {
		from, to string
		amount   int
	}{
		{"alice", "bob", 30},
		{"bob", "carol", 50},
		{"carol", "alice", 500},  // fails: insufficient funds, rolled back
		{"alice", "mallory", 10}, // fails at Commit: no such account (deferred foreign key)
		{"carol", "bob", 20},
	}
	var committed, failed int
	for _, t := range transfers {
		err := transfer(ctx, db, t.from, t.to, t.amount)
		if err != nil {
			failed++
			fmt.Fprintf(w, "transfer %s -> %s %d: rolled back: %v\n", t.from, t.to, t.amount, err)
			continue
		}
		committed++
	}

	balances, total, err := report(ctx, db)
	if err != nil {
		return err
	}
	var ledgerRows int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ledger`).Scan(&ledgerRows); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d transfers committed, %d rolled back; ledger rows: %d (two per committed transfer)\n", committed, failed, ledgerRows)
	fmt.Fprintf(w, "balances: %s; total %d\n", balances, total)
	if ledgerRows != 2*committed || total != 300 {
		return fmt.Errorf("sqlite: %d ledger rows and total %d, want %d and 300", ledgerRows, total, 2*committed)
	}
	return nil
}

// transfer moves amount between accounts in one transaction. The rollback
// is a failure-only cleanup: it runs when anything fails, Commit included,
// and never after a successful Commit.
func transfer(ctx context.Context, db *sql.DB, from, to string, amount int) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	s.OnFailure(rollback(tx))

	var balance int
	if err := tx.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE name = ?`, from).Scan(&balance); err != nil {
		return err
	}
	if balance < amount {
		return fmt.Errorf("%s has %d: %w", from, balance, ErrInsufficientFunds)
	}
	for _, step := range []struct {
		account string
		delta   int
	}{{from, -amount}, {to, amount}} {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance + ? WHERE name = ?`, step.delta, step.account); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (account, amount) VALUES (?, ?)`, step.account, step.delta); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// rollback is a transaction's failure-only cleanup. After a failed Commit,
// database/sql has already ended the transaction and Rollback returns
// sql.ErrTxDone: that is not a second failure, so it is not reported.
func rollback(tx *sql.Tx) func() error {
	return func() error {
		if err := tx.Rollback(); !errors.Is(err, sql.ErrTxDone) {
			return err
		}
		return nil
	}
}

// report reads every balance. The rows are closed by the scope whatever
// happens, and rows.Err is checked, the step hand-written loops forget.
func report(ctx context.Context, db *sql.DB) (balances string, total int, err error) {
	var s scope.Scope
	defer s.CloseInto(&err)

	rows, err := db.QueryContext(ctx, `SELECT name, balance FROM accounts ORDER BY name`)
	if err != nil {
		return "", 0, err
	}
	s.DeferClose(rows)
	for rows.Next() {
		var name string
		var balance int
		if err := rows.Scan(&name, &balance); err != nil {
			return "", 0, err
		}
		if balances != "" {
			balances += ", "
		}
		balances += fmt.Sprintf("%s %d", name, balance)
		total += balance
	}
	return balances, total, rows.Err()
}
