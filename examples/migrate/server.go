package migrate

import (
	"bufio"
	"io"
	"net"
	"time"

	"github.com/reclaim-go/reclaim/examples/tcppool"
)

// liveConns waits for the server to notice closed connections (the count
// stays put for 50 ms), then returns how many are still open.
func liveConns(b *tcppool.Backend) int32 {
	n, since := b.Live(), time.Now()
	for deadline := since.Add(2 * time.Second); time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		if m := b.Live(); m != n {
			n, since = m, time.Now()
		} else if time.Since(since) >= 50*time.Millisecond {
			break
		}
	}
	return n
}

// handshake sends HELLO and expects OK.
func handshake(c net.Conn) error {
	if _, err := io.WriteString(c, "HELLO\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "OK\n" {
		return errBusy
	}
	return nil
}
