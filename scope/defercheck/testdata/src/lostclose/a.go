package lostclose

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
)

func save(p string, data []byte) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close() // want `error of f.Close\(\) is dropped, but f was opened for writing`
	_, err = f.Write(data)
	return err
}

func appendLine(p, line string) error {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close() // want `error of f.Close\(\) is dropped, but f was opened for writing`
	_, err = fmt.Fprintln(f, line)
	return err
}

func compress(dst io.Writer, src io.Reader) (n int64, err error) {
	zw := gzip.NewWriter(dst)
	defer zw.Close() // want `error of zw.Close\(\) is dropped, but zw was passed as an io.Writer`
	return io.Copy(zw, src)
}

type sink struct{}

func (sink) WriteString(s string) (int, error) { return len(s), nil }
func (sink) Close() error                      { return nil }

func written(s sink) error {
	defer s.Close() // want `error of s.Close\(\) is dropped, but s was written to \(WriteString\)`
	_, err := s.WriteString("x")
	return err
}

func encode(p string, v any) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close() // want `error of f.Close\(\) is dropped`
	return json.NewEncoder(f).Encode(v)
}

// Negative cases.

// Only read: Close of a reader has nothing to lose (gosec G307's noise).
func load(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func readOnlyFlag(p string) error {
	f, err := os.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return nil
}

// The success path closes explicitly; the defer covers the failures.
func saveChecked(p string, data []byte) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Close()
}

func synced(p string, data []byte) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// A connection's Close says nothing about delivered data.
func send(c net.Conn, b []byte) error {
	defer c.Close()
	_, err := c.Write(b)
	return err
}

// No error to report it through.
func noError(p string) {
	f, _ := os.Create(p)
	defer f.Close()
	f.WriteString("x")
}

// io.PipeWriter.Close always returns nil.
func pipe(pw *io.PipeWriter) error {
	defer pw.Close()
	_, err := pw.Write(nil)
	return err
}

// An io.ReadWriter parameter may only read.
func exchange(rw io.ReadWriter) error { return nil }

func readWriter(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return exchange(f)
}

// The error is kept already.
func kept(p string) (err error) {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	_, err = f.WriteString("x")
	return err
}

// A shadowed err would not reach the result: reported, but no fix.
func shadow(p string) (err error) {
	if p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close() // want `error of f.Close\(\) is dropped`
		_, err = f.WriteString("x")
		return err
	}
	return nil
}

// Found in the corpus (bbolt's tests): O_RDWR for an ioctl, never written.
func ioctl(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_ = f.Fd()
	return nil
}

// Found in the corpus (bbolt's tests): Truncate is a metadata change.
func truncate(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Truncate(1 << 20)
}

// Found in the corpus (caddy's notify): a concrete connection type.
func notify(addr *net.UnixAddr) error {
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte("READY=1"))
	return err
}
