//go:build !linux

package blockio

import (
	"net"
	"time"
)

// Supported reports whether FromTCP works here.
const Supported = false

// FromTCP is not available here: c stays as it is.
func FromTCP(c *net.TCPConn) (*Conn, error) { return nil, ErrUnsupported }

func (c *Conn) Read(b []byte) (int, error)  { return 0, ErrUnsupported }
func (c *Conn) Write(b []byte) (int, error) { return 0, ErrUnsupported }
func (c *Conn) Interrupt()                  {}
func (c *Conn) InterruptRead()              {}
func (c *Conn) Close() error                { return ErrUnsupported }

// Sleep is time.Sleep here.
func Sleep(d time.Duration)       { time.Sleep(d) }
func (c *Conn) CloseWrite() error { return ErrUnsupported }
