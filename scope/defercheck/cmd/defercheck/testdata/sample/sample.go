// Package sample has one finding for each of defercheck's analyzers that
// works without reclaim, for the command's tests.
package sample

import (
	"errors"
	"os"
)

func open(p string) error {
	f, err := os.Open(p)
	defer f.Close()
	if err != nil {
		return err
	}
	return nil
}

func openAll(paths []string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
	}
	return nil
}

func save(p string) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("x")
	return err
}

func replace(p string) (err error) {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil {
			err = cerr
		}
	}()
	return errors.New("read failed")
}
