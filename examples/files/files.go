// Package files processes a directory of real files the way reclaim
// teaches: one Scope per file, a failure-only cleanup that removes the
// half-written output, and handles that close each input early inside the
// loop that reads them all.
//
// Run it with `go run ./examples/tour files`.
package files

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/reclaim-go/reclaim/internal/fds"
	"github.com/reclaim-go/reclaim/scope"
)

// ErrBadRecord is the failure that half the inputs provoke on purpose.
var ErrBadRecord = errors.New("bad record")

// Main converts 200 generated files, half of which fail half-way through,
// then concatenates the good outputs, and reports to w. It returns an error
// if a descriptor or a half-written output was left behind.
func Main(w io.Writer) (err error) {
	var s scope.Scope
	defer s.CloseInto(&err)

	dir, err := os.MkdirTemp("", "reclaim-files")
	if err != nil {
		return err
	}
	s.Defer(func() error { return os.RemoveAll(dir) })

	before, err := fds.Count()
	if err != nil {
		return err
	}

	const n = 200
	var failed int
	for i := range n {
		in := filepath.Join(dir, fmt.Sprintf("in-%03d.txt", i))
		body := fmt.Sprintf("record %d\n", i)
		if i%2 == 1 {
			body += "BAD\n" // fails on purpose after the first line was written
		}
		if err := os.WriteFile(in, []byte(body), 0o600); err != nil {
			return err
		}
		switch err := convert(filepath.Join(dir, fmt.Sprintf("out-%03d.txt", i)), in); {
		case errors.Is(err, ErrBadRecord):
			failed++
		case err != nil:
			return err
		}
	}
	outs, err := filepath.Glob(filepath.Join(dir, "out-*"))
	if err != nil {
		return err
	}
	lines, err := concat(outs)
	if err != nil {
		return err
	}
	after, err := fds.Count()
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "converted %d files: %d failed on purpose, %d outputs kept, %d half-written outputs removed\n",
		n, failed, len(outs), n-len(outs))
	fmt.Fprintf(w, "read %d lines from the kept outputs, one open file at a time\n", lines)
	fmt.Fprintf(w, "open descriptors: %d before, %d after\n", before, after)
	if len(outs) != n-failed || after != before {
		return fmt.Errorf("files: kept %d outputs and %d descriptors, want %d and %d", len(outs), after, n-failed, before)
	}
	return nil
}

// convert upper-cases src into dst. If anything fails, closing dst
// included, dst is removed: the caller never sees a half-written file.
func convert(dst, src string) (err error) {
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
	s.DeferClose(out) // runs first: a failed flush also removes dst

	bw := bufio.NewWriter(out)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() == "BAD" {
			bw.Flush() // the first line is on disk: a real half-written file
			return fmt.Errorf("%s: %w", filepath.Base(src), ErrBadRecord)
		}
		if _, err := bw.WriteString(strings.ToUpper(sc.Text()) + "\n"); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

// concat reads every file in turn. Each is closed as soon as it was read,
// through its handle, and the scope still closes it if reading fails: no
// defer-in-a-loop holding every file open until the end.
func concat(names []string) (lines int, err error) {
	var s scope.Scope
	defer s.CloseInto(&err)
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return lines, err
		}
		h := s.DeferClose(f)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines++
		}
		if err := sc.Err(); err != nil {
			return lines, err
		}
		if err := h.Run(); err != nil { // close this one now
			return lines, err
		}
	}
	return lines, nil
}
