//go:build linux

package blockio

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns a blocking connection and the poller-side peer it talks to.
func pair(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		peer <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	bc, err := FromTCP(c.(*net.TCPConn))
	if err != nil {
		t.Fatal(err)
	}
	p := <-peer
	t.Cleanup(func() { p.Close() })
	return bc, p
}

func TestReadWrite(t *testing.T) {
	bc, p := pair(t)
	defer bc.Close()
	go func() {
		buf := make([]byte, 5)
		io.ReadFull(p, buf)
		p.Write(append([]byte("got "), buf...))
		p.Close()
	}()
	if _, err := bc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(bc)
	if err != nil || string(got) != "got hello" {
		t.Fatalf("read %q, %v; want \"got hello\" then EOF", got, err)
	}
	if bc.RemoteAddr().String() != p.LocalAddr().String() {
		t.Errorf("remote address %v, want %v", bc.RemoteAddr(), p.LocalAddr())
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v, want net.ErrClosed", err)
	}
}

// TestDeadline: a read past its deadline ends with a timeout, within the
// slack the socket's timeout allows, and the connection stays usable.
func TestDeadline(t *testing.T) {
	bc, p := pair(t)
	defer bc.Close()
	bc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := bc.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
	bc.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := bc.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with a deadline passed: %v, want a timeout", err)
	}
	bc.SetReadDeadline(time.Time{})
	p.Write([]byte("x"))
	b := make([]byte, 1)
	if n, err := bc.Read(b); n != 1 || err != nil || b[0] != 'x' {
		t.Fatalf("read after the deadlines: %d %v", n, err)
	}
}

// TestInterrupt: a read blocked on another goroutine returns.
func TestInterrupt(t *testing.T) {
	bc, _ := pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := bc.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it block, most likely
	bc.Interrupt()
	if err := <-done; err != io.EOF {
		t.Errorf("interrupted read: %v, want EOF", err)
	}
	bc.Close()
}

func TestSleep(t *testing.T) {
	start := time.Now()
	Sleep(10 * time.Millisecond)
	if d := time.Since(start); d < 10*time.Millisecond {
		t.Errorf("slept %v, want at least 10ms", d)
	}
}
