package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/reclaim-go/reclaim/internal/fds"
	"github.com/reclaim-go/reclaim/scope"
)

var errOnPurpose = errors.New("failed on purpose")

// scopeFiles converts many real files, one Scope per file. Every other
// conversion fails after its output was half written: the Scope closes both
// files either way and removes the half-written output only on failure.
func scopeFiles() error {
	dir, err := os.MkdirTemp("", "reclaim-tour")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	const n = 200
	before, err := fds.Count()
	if err != nil {
		return err
	}
	var failed, kept int
	for i := range n {
		in := filepath.Join(dir, fmt.Sprintf("in-%03d.txt", i))
		if err := os.WriteFile(in, []byte(fmt.Sprintf("record %d\n", i)), 0o600); err != nil {
			return err
		}
		err := convert(filepath.Join(dir, fmt.Sprintf("out-%03d.txt", i)), in, i%2 == 1)
		switch {
		case errors.Is(err, errOnPurpose):
			failed++
		case err != nil:
			return err
		}
	}
	outs, _ := filepath.Glob(filepath.Join(dir, "out-*"))
	kept = len(outs)
	after, err := fds.Count()
	if err != nil {
		return err
	}
	fmt.Printf("   converted %d files: %d failed on purpose, %d outputs kept, %d half-written outputs removed\n",
		n, failed, kept, n-kept)
	fmt.Printf("   descriptors around the loop: %d before, %d after\n", before, after)
	if kept != n-failed || after != before {
		return fmt.Errorf("kept %d outputs and %d descriptors, want %d and %d", kept, after, n-failed, before)
	}
	return nil
}

func convert(dst, src string, fail bool) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)

	in, err := os.Open(src)
	if err != nil {
		return err
	}
	s.DeferClose(in)

	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	s.OnFailure(func() error { return os.Remove(dst) })
	s.DeferClose(out)

	if _, err := out.ReadFrom(in); err != nil {
		return err
	}
	if fail {
		return errOnPurpose
	}
	return nil
}
