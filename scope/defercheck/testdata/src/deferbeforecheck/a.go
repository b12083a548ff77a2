package deferbeforecheck

import (
	"database/sql"
	"log"
	"net/http"
	"os"
)

func open(p string) error {
	f, err := os.Open(p)
	defer f.Close() // want `cleanup of f deferred before err is checked`
	if err != nil {
		return err
	}
	return nil
}

func get(url string) (int, error) {
	resp, err := http.Get(url)
	defer resp.Body.Close() // want `cleanup of resp deferred before err is checked`
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func assigned(db *sql.DB) error {
	var tx *sql.Tx
	var err error
	tx, err = db.Begin()
	defer tx.Rollback() // want `cleanup of tx deferred before err is checked`
	log.Print("begun")
	if err != nil {
		return err
	}
	return tx.Commit()
}

// The check does not end the function, so moving the defer below it would
// still run it on the failed path: reported, but no fix is offered.
func logsOnly(p string) {
	f, err := os.Open(p)
	defer f.Close() // want `cleanup of f deferred before err is checked`
	if err != nil {
		log.Print(err)
	}
}

func inCase(p string, ok bool) error {
	switch {
	case ok:
		f, err := os.Open(p)
		defer func() { f.Close() }()
		defer f.Close() // want `cleanup of f deferred before err is checked`
		if err != nil {
			return err
		}
	}
	return nil
}

// SA5001 looks at Close only.
func rollback(db *sql.DB) error {
	tx, err := db.Begin()
	defer tx.Rollback() // want `cleanup of tx deferred before err is checked`
	if err != nil {
		return err
	}
	return tx.Commit()
}

// Negative cases.

func checkedFirst(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return nil
}

func checkedEqualNil(p string) {
	f, err := os.Open(p)
	if err == nil {
		defer f.Close()
	}
}

// A defer that does not touch the produced value is not about it.
func otherValue(p string, g *os.File) error {
	f, err := os.Open(p)
	defer g.Close()
	if err != nil {
		return err
	}
	return f.Close()
}

// The value was replaced before the defer: the defer closes the new one.
func replaced(p string) error {
	f, err := os.Open(p)
	f = os.Stdin
	defer f.Close()
	if err != nil {
		return err
	}
	return nil
}

// Never checked at all is a different bug (errcheck's), not this one.
func neverChecked(p string) {
	f, _ := os.Open(p)
	defer f.Close()
}

// A package function given the value is not a method on a zero value.
func removeAfter() error {
	name, err := os.MkdirTemp("", "x")
	defer os.RemoveAll(name)
	if err != nil {
		return err
	}
	return nil
}

// The error is consumed before the defer: checked, just not with an if.
func handledOtherwise(p string) error {
	f, err := os.Open(p)
	must(err)
	defer f.Close()
	if err != nil {
		return err
	}
	return nil
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
