// Package threadhttp serves HTTP/1.1 on connections read and written with
// blocking system calls (internal/blockio), one thread per connection.
//
// net/http wakes a request's goroutine through Go's network poller, and on
// a process whose processors are busy with bulk work (ingest, detection)
// the poller may be looked at only milliseconds after the bytes arrived.
// Here the kernel wakes the connection's thread itself. vigil serves the
// command gate this way on a listener of its own (gate.listen), for the
// few connections of the back-ends that ask it.
//
// Requests are parsed by net/http (http.ReadRequest) and answered by an
// http.Handler; the answer is buffered and written with one system call.
// Not supported: HTTP/2, Hijack, Flush, trailers, a request context that
// ends when the client goes away.
package threadhttp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/blockio"
	"github.com/vigil-project/vigil/internal/osprio"
	"golang.org/x/net/http/httpguts"
)

// Server serves one listener. The zero values of its limits take the
// defaults below.
type Server struct {
	Handler http.Handler
	TLS     *tls.Config // nil: plain HTTP
	// MaxConns bounds the open connections, each a thread (default 64);
	// one more is answered 503 and closed.
	MaxConns int
	// ReadTimeout bounds the wait for a request, idle time included, up
	// to the end of its headers (default 60 s); WriteTimeout the writing
	// of an answer (default 10 s).
	ReadTimeout, WriteTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers (default 64 KiB);
	// MaxBodyBytes its body (default 1 MiB): beyond, 413.
	MaxHeaderBytes int
	MaxBodyBytes   int64
	// Slice, when set, is the time slice of the connections' threads
	// (osprio.Urgent): the kernel wakes them ahead of the process's others.
	Slice time.Duration
	Log   *slog.Logger

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	shutting atomic.Bool   // set under mu; read without it by connections
	done     chan struct{} // closed when the last connection has gone after Shutdown
	ctx      context.Context
	cancel   context.CancelFunc

	refused, malformed, served atomic.Uint64
}

// Stats counts what the server did, for metrics.
type Stats struct {
	Open      int    // connections open now
	Refused   uint64 // connections closed at once: MaxConns reached
	Malformed uint64 // requests answered 4xx/5xx before the handler: unparsable, too large, bad headers
	Served    uint64 // requests answered by the handler
}

func (s *Server) Stats() Stats {
	s.mu.Lock()
	open := len(s.conns)
	s.mu.Unlock()
	return Stats{Open: open, Refused: s.refused.Load(), Malformed: s.malformed.Load(), Served: s.served.Load()}
}

func (s *Server) defaults() {
	if s.MaxConns <= 0 {
		s.MaxConns = 64
	}
	if s.ReadTimeout <= 0 {
		s.ReadTimeout = 60 * time.Second
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = 10 * time.Second
	}
	if s.MaxHeaderBytes <= 0 {
		s.MaxHeaderBytes = 64 << 10
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = 1 << 20
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
}

// Serve accepts connections on ln until Shutdown, then returns
// http.ErrServerClosed. ln must give TCP connections.
func (s *Server) Serve(ln net.Listener) error {
	if !blockio.Supported {
		ln.Close()
		return blockio.ErrUnsupported
	}
	s.defaults()
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.ln = ln
	s.conns = map[*conn]struct{}{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		tc, ok := nc.(*net.TCPConn)
		if !ok {
			nc.Close()
			return fmt.Errorf("threadhttp: %T is not a TCP connection", nc)
		}
		s.mu.Lock()
		full := len(s.conns) >= s.MaxConns || s.shutting.Load()
		s.mu.Unlock()
		if full {
			s.refused.Add(1)
			go refuse(tc)
			continue
		}
		bc, err := blockio.FromTCP(tc)
		if err != nil {
			s.Log.Warn("gate listener: a connection could not be made blocking", "remote", nc.RemoteAddr(), "err", err)
			continue
		}
		c := &conn{s: s, bc: bc}
		s.mu.Lock()
		if s.shutting.Load() { // Shutdown may have found no connection and be done
			s.mu.Unlock()
			bc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.serve()
	}
}

// refuse answers a connection over the bound 503, on the poller: it costs
// no thread.
func refuse(c net.Conn) {
	body := `{"error":{"code":"overloaded","message":"too many connections to this listener; retry after Retry-After"}}`
	c.SetDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	c.Close()
}

// Shutdown stops accepting, closes connections waiting for a request,
// lets those in a request answer it and close, and waits for them until
// ctx ends; then it interrupts the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		return nil
	}
	s.shutting.Store(true)
	s.done = make(chan struct{})
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		if c.idle.Load() {
			c.bc.Interrupt()
		}
	}
	if len(s.conns) == 0 {
		close(s.done)
	}
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
		if s.cancel != nil {
			s.cancel()
		}
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.bc.Interrupt()
		}
		s.mu.Unlock()
		if s.cancel != nil {
			s.cancel()
		}
		return ctx.Err()
	}
}

type conn struct {
	s    *Server
	bc   *blockio.Conn
	idle atomic.Bool // waiting for a request: Shutdown may end it
}

// release leaves the server's set and closes the connection; Interrupt is
// called under the same lock, so never on a closed descriptor.
func (c *conn) release() {
	s := c.s
	s.mu.Lock()
	delete(s.conns, c)
	if s.shutting.Load() && len(s.conns) == 0 {
		close(s.done)
	}
	c.bc.Close()
	s.mu.Unlock()
}

// limitedConn bounds how much a request's headers may read.
type limitedConn struct {
	r io.Reader
	n int64
}

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

var errHeaderTooLarge = errors.New("request headers too large")

func (c *conn) serve() {
	defer c.release()
	s := c.s
	if s.Slice > 0 {
		osprio.Urgent(s.Slice)
	}
	var nc net.Conn = c.bc
	var tlsState *tls.ConnectionState
	if s.TLS != nil {
		tc := tls.Server(c.bc, s.TLS)
		c.bc.SetDeadline(time.Now().Add(s.ReadTimeout))
		if err := tc.Handshake(); err != nil {
			s.Log.Debug("gate listener: TLS handshake failed", "remote", c.bc.RemoteAddr(), "err", err)
			return
		}
		st := tc.ConnectionState()
		tlsState = &st
		nc = tc
	}
	lr := &limitedConn{r: nc}
	br := bufio.NewReaderSize(lr, 4096)
	w := &response{}
	out := make([]byte, 0, 1024)
	remote := c.bc.RemoteAddr().String()
	for {
		// Shutdown sets shutting, then interrupts the idle: marked idle
		// first, a connection either sees shutting or is interrupted.
		c.idle.Store(true)
		if s.shutting.Load() {
			return
		}
		c.bc.SetReadDeadline(time.Now().Add(s.ReadTimeout))
		lr.n = int64(s.MaxHeaderBytes) + 4096 // as net/http: room for bufio's read-ahead
		req, err := http.ReadRequest(br)
		c.idle.Store(false)
		if err != nil {
			if br.Buffered() > 0 || !isQuiet(err) {
				c.fail(nc, err)
			}
			return
		}
		lr.n = 1 << 62 // the body is bounded by its framing and MaxBodyBytes
		if code, msg := checkRequest(req); code != 0 {
			c.refuseRequest(nc, code, msg)
			return
		}
		req.RemoteAddr, req.TLS = remote, tlsState
		req = req.WithContext(s.ctx)
		w.reset()
		req.Body = http.MaxBytesReader(w, req.Body, s.MaxBodyBytes)
		if req.Header.Get("Expect") == "100-continue" && req.ProtoAtLeast(1, 1) && req.ContentLength != 0 {
			c.bc.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
			if _, err := io.WriteString(nc, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
				return
			}
		}
		s.Handler.ServeHTTP(w, req)
		s.served.Add(1)
		// What the handler left of the body is read, up to a bound, so that
		// the next request starts where it should.
		keep := !req.Close
		if n, err := io.CopyN(io.Discard, req.Body, 256<<10); err != io.EOF || n == 256<<10 {
			keep = false
		}
		keep = keep && !s.shutting.Load()
		out = w.appendTo(out[:0], req, keep)
		c.bc.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
		if _, err := nc.Write(out); err != nil || !keep {
			return
		}
	}
}

// isQuiet: the client closed or went idle between requests, not an error
// worth an answer.
func isQuiet(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne) && ne.Timeout()
}

// fail answers a request that could not be read and counts it.
func (c *conn) fail(nc net.Conn, err error) {
	switch {
	case errors.Is(err, errHeaderTooLarge):
		c.refuseRequest(nc, http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("request line and headers longer than %d bytes", c.s.MaxHeaderBytes))
	case isQuiet(err):
		c.s.malformed.Add(1) // cut off inside a request
	default:
		c.refuseRequest(nc, http.StatusBadRequest, "malformed HTTP/1.1 request: "+err.Error())
	}
}

// checkRequest applies what net/http's server checks beyond parsing.
func checkRequest(r *http.Request) (int, string) {
	switch {
	case r.ProtoMajor != 1:
		return http.StatusHTTPVersionNotSupported, "only HTTP/1.x is served on this listener"
	case r.ProtoAtLeast(1, 1) && len(r.Header["Host"]) == 0 && r.Host == "":
		return http.StatusBadRequest, "missing Host header"
	case len(r.Header["Host"]) > 1:
		return http.StatusBadRequest, "more than one Host header"
	case !httpguts.ValidHostHeader(r.Host):
		return http.StatusBadRequest, "malformed Host header"
	case r.Header.Get("Expect") != "" && r.Header.Get("Expect") != "100-continue":
		return http.StatusExpectationFailed, "unsupported Expect header"
	}
	for name, vs := range r.Header {
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return http.StatusBadRequest, "malformed value of header " + strconv.Quote(name)
			}
		}
	}
	return 0, ""
}

// refuseRequest answers with the error catalogue's shape and closes.
func (c *conn) refuseRequest(nc net.Conn, code int, msg string) {
	c.s.malformed.Add(1)
	ec := "bad_request"
	if code == http.StatusRequestHeaderFieldsTooLarge {
		ec = "body_too_large"
	}
	body := fmt.Sprintf(`{"error":{"code":%q,"message":%q}}`, ec, msg)
	c.bc.SetWriteDeadline(time.Now().Add(c.s.WriteTimeout))
	fmt.Fprintf(nc, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}
