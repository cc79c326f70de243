package blockio

import (
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Supported reports whether FromTCP works here.
const Supported = true

// FromTCP turns c into a blocking connection and closes c: from then on
// only the returned Conn reads and writes it.
func FromTCP(c *net.TCPConn) (*Conn, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		c.Close()
		return nil, err
	}
	if derr != nil {
		c.Close()
		return nil, os.NewSyscallError("fcntl", derr)
	}
	out := &Conn{fd: fd, local: c.LocalAddr(), remote: c.RemoteAddr()}
	// The descriptors share one open file description, and with it the
	// non-blocking flag: once cleared, the poller's copy must go.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		c.Close()
		return nil, os.NewSyscallError("fcntl", err)
	}
	c.Close()
	return out, nil
}

// arm sets the socket's receive or send timeout for a call starting now
// under deadline, when the one set would end the call too late (or too
// early).
func (c *Conn) arm(opt int, deadline time.Time, set *time.Duration, op string) error {
	var want time.Duration
	if !deadline.IsZero() {
		want = time.Until(deadline)
		if want <= 0 {
			return timeoutError(op, c)
		}
	}
	cur := *set
	if want == 0 && cur == 0 || want > 0 && cur > 0 && cur <= want+slack(want) && cur >= want/2 {
		return nil
	}
	tv := unix.NsecToTimeval(int64(want))
	if want > 0 && tv.Sec == 0 && tv.Usec == 0 {
		tv.Usec = 1 // a zero timeval means none
	}
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, opt, &tv); err != nil {
		return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: os.NewSyscallError("setsockopt", err)}
	}
	*set = want
	return nil
}

func (c *Conn) Read(b []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	for {
		if err := c.arm(unix.SO_RCVTIMEO, c.rd, &c.rcvSet, "read"); err != nil {
			return 0, err
		}
		n, err := unix.Read(c.fd, b)
		switch {
		case err == unix.EINTR || err == unix.EAGAIN: // EAGAIN: the timeout; arm decides
			continue
		case err != nil:
			return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.local, Addr: c.remote, Err: os.NewSyscallError("read", err)}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *Conn) Write(b []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	done := 0
	for done < len(b) {
		if err := c.arm(unix.SO_SNDTIMEO, c.wd, &c.sndSet, "write"); err != nil {
			return done, err
		}
		n, err := unix.Write(c.fd, b[done:])
		if n > 0 {
			done += n
		}
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
			continue
		case err != nil:
			return done, &net.OpError{Op: "write", Net: "tcp", Source: c.local, Addr: c.remote, Err: os.NewSyscallError("write", err)}
		}
	}
	return done, nil
}

// Interrupt ends the connection for both directions: a read or write
// blocked on it, on any thread, returns. Safe to call from any goroutine,
// before Close.
func (c *Conn) Interrupt() { unix.Shutdown(c.fd, unix.SHUT_RDWR) }

// InterruptRead ends the receiving side: a read blocked on it returns EOF,
// while what is still to be written can be. Safe from any goroutine, before
// Close.
func (c *Conn) InterruptRead() { unix.Shutdown(c.fd, unix.SHUT_RD) }

// Close closes the descriptor; see Conn for who may call it.
func (c *Conn) Close() error {
	if c.closed {
		return net.ErrClosed
	}
	c.closed = true
	return unix.Close(c.fd)
}

// Sleep blocks the calling thread for d: it wakes when the kernel says so,
// not when the Go scheduler next runs its timers.
func Sleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for d > 0 {
		if err := unix.Nanosleep(&ts, &ts); err != unix.EINTR {
			return
		}
	}
}

// CloseWrite ends the sending side: the peer reads EOF once it has read
// what was sent.
func (c *Conn) CloseWrite() error {
	if c.closed {
		return net.ErrClosed
	}
	return unix.Shutdown(c.fd, unix.SHUT_WR)
}
