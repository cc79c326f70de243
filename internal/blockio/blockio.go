// Package blockio reads and writes TCP connections with blocking system
// calls instead of Go's network poller.
//
// A goroutine blocked in a poller read wakes only when some thread of the
// process next polls, and on a process whose processors are all busy with
// bulk work that can take milliseconds. A goroutine blocked in a read
// system call is woken by the kernel itself when bytes arrive. It costs a
// thread per connection, so it suits few, latency-bound connections: the
// command gate's (docs/gate.md).
package blockio

import (
	"errors"
	"net"
	"os"
	"time"
)

// ErrUnsupported: blocking connections are built on Linux only.
var ErrUnsupported = errors.New("blocking connections are not supported on this system")

// timeoutError is what a read or write past its deadline returns: it is
// os.ErrDeadlineExceeded, and a net.Error whose Timeout is true.
func timeoutError(op string, c *Conn) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: os.ErrDeadlineExceeded}
}

// slack is how far past a deadline a blocked call may return: the socket's
// timeout is set again only when it would overshoot by more, so that a
// connection whose deadline moves by the same step each request costs no
// extra system call.
func slack(want time.Duration) time.Duration { return want/16 + time.Millisecond }

// Conn is a TCP connection whose Read and Write block the calling thread.
// It implements net.Conn, with two limits: Close must be called by the
// goroutine that reads and writes (or after they returned), since closing a
// descriptor does not wake a thread blocked on it; Interrupt wakes them
// from anywhere. Deadlines are kept within slack(timeout) of their time.
type Conn struct {
	fd             int
	local, remote  net.Addr
	rd, wd         time.Time     // deadlines; zero: none
	rcvSet, sndSet time.Duration // timeouts set on the socket; 0: none
	closed         bool
}

func (c *Conn) LocalAddr() net.Addr  { return c.local }
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

func (c *Conn) SetDeadline(t time.Time) error {
	c.rd, c.wd = t, t
	return nil
}

func (c *Conn) SetReadDeadline(t time.Time) error  { c.rd = t; return nil }
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd = t; return nil }
