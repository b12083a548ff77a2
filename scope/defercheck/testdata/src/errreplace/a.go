package errreplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
)

// The rollback's error replaces the real one.
func transfer(ctx context.Context, db *sql.DB) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil {
				err = rerr // want `the error of tx.Rollback\(\) replaces err`
			}
		}
	}()
	_, err = tx.ExecContext(ctx, "UPDATE t SET x = 1")
	if err != nil {
		return err
	}
	return tx.Commit()
}

// Unguarded: a nil from Close turns a failure into success.
func write(p string, b []byte) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() {
		err = f.Close() // want `the error of f.Close\(\) replaces err`
	}()
	_, err = f.Write(b)
	return err
}

func closeIfFailed(p string) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil {
			err = cerr // want `the error of f.Close\(\) replaces err`
		}
	}()
	return nil
}

// Negative cases.

func onlyWhenNil(p string) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	return nil
}

func nestedNilGuard(p string) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() {
		cerr := f.Close()
		if err == nil {
			err = cerr
		}
	}()
	return nil
}

func elseOfNotNil(p string) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
		} else {
			err = f.Close()
		}
	}()
	return nil
}

func joined(p string) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, f.Close())
	}()
	return nil
}

func wrapped(p string) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil {
			err = fmt.Errorf("close: %v (after %w)", cerr, err)
		}
	}()
	return nil
}

// Not a cleanup's error: a recovered panic becomes the result.
func recovered() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return nil
}

// No named result: nothing is replaced.
func unnamed(p string) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() {
		err = f.Close()
	}()
	return err
}

var errTxClosed = errors.New("tx closed")

type tx struct{}

func (tx) Rollback() error { return nil }

// Found in the wider sweep (pgx's BeginFunc): every failure path rolls back
// itself, and the deferred rollback's "already closed" error is excluded, so
// only the success path can be replaced, deliberately.
func beginFunc(t tx, fn func() error) (err error) {
	defer func() {
		rollbackErr := t.Rollback()
		if rollbackErr != nil && !errors.Is(rollbackErr, errTxClosed) {
			err = rollbackErr
		}
	}()
	if err := fn(); err != nil {
		_ = t.Rollback()
		return err
	}
	return nil
}
