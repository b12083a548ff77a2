package deferloop

import (
	"net"
	"os"
	"sync"
)

func readAll(paths []string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close() // want `defer f.Close\(\) in a loop: the f of every iteration stays open`
	}
	return nil
}

func counted(n int) {
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:1")
		if err != nil {
			continue
		}
		defer closeConn(c) // want `defer closeConn\(c\) in a loop: the c of every iteration`
	}
}

func closeConn(c net.Conn) { c.Close() }

func nested(dirs [][]string) {
	for _, d := range dirs {
		if len(d) > 0 {
			for {
				f, _ := os.Create(d[0])
				defer func() { f.Close() }()
				defer f.Close() // want `defer f.Close\(\) in a loop`
			}
		}
	}
}

// A break inside a switch leaves the switch, not the loop.
func breakInSwitch(paths []string) {
	for _, p := range paths {
		switch {
		case p != "":
			f, _ := os.Open(p)
			defer f.Close() // want `defer f.Close\(\) in a loop`
			break
		}
	}
}

// Negative cases.

func perIteration(paths []string) error {
	for _, p := range paths {
		err := func() error {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// Values made before the loop are meant to live until the function returns.
func lockAll(shards []*sync.Mutex, files []*os.File) {
	for _, mu := range shards {
		mu.Lock()
		defer mu.Unlock()
	}
	for i := range files {
		defer files[i].Close()
	}
}

// The loop ends right after the defer: it runs for one iteration at most.
func firstThatOpens(paths []string) (*os.File, error) {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		defer f.Close()
		return nil, nil
	}
	return nil, os.ErrNotExist
}

func retryDial() {
	for {
		c, err := net.Dial("tcp", "127.0.0.1:1")
		if err != nil {
			continue
		}
		defer c.Close()
		break
	}
}

func outsideLoop(p string) {
	f, _ := os.Open(p)
	defer f.Close()
	for range 3 {
	}
}

// Found in the corpus (pkg/sftp's benchmarks): the iteration closes the file
// itself; the defer only guards the early exits.
func closedAtEnd(paths []string) {
	for _, p := range paths {
		f, err := os.Create(p)
		if err != nil {
			return
		}
		defer f.Close()
		f.WriteString("x")
		f.Close()
	}
}

type shard struct{ mu sync.Mutex }

// Only named in the iteration, not made there.
func aliased(shards []shard) {
	for i := range shards {
		mu := &shards[i].mu
		mu.Lock()
		defer mu.Unlock()
	}
}

// Locks taken in order and held until the function returns.
func lockKeys(get func(string) *sync.RWMutex, keys []string) {
	for _, k := range keys {
		mu := get(k)
		mu.RLock()
		defer mu.RUnlock()
	}
}
