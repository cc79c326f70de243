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
	"runtime/debug"
	"strconv"
	"strings"
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
	// IdleTimeout bounds the wait for a request's first byte (default
	// 60 s); HeaderTimeout, from then, the rest of its line and headers
	// (default 5 s); BodyTimeout, from then, its body (default 10 s);
	// WriteTimeout the writing of an answer (default 10 s). When all
	// connections are open, the one that has waited longest for a request
	// is closed for a new one, so idle or slow senders cannot hold them all.
	IdleTimeout, HeaderTimeout, BodyTimeout, WriteTimeout time.Duration
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

	refused, evicted, malformed, served, panics atomic.Uint64
}

// Stats counts what the server did, for metrics.
type Stats struct {
	Open      int    // connections open now
	Refused   uint64 // connections closed at once: MaxConns reached and none waiting for a request
	Evicted   uint64 // connections closed for a new one while waiting for a request
	Malformed uint64 // requests answered 4xx/5xx before the handler: unparsable, too large, bad headers, too slow
	Served    uint64 // requests answered by the handler
	Panics    uint64 // handler panics, answered 500
}

func (s *Server) Stats() Stats {
	s.mu.Lock()
	open := len(s.conns)
	s.mu.Unlock()
	return Stats{Open: open, Refused: s.refused.Load(), Evicted: s.evicted.Load(), Malformed: s.malformed.Load(),
		Served: s.served.Load(), Panics: s.panics.Load()}
}

func (s *Server) defaults() {
	if s.MaxConns <= 0 {
		s.MaxConns = 64
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = 60 * time.Second
	}
	if s.HeaderTimeout <= 0 {
		s.HeaderTimeout = 5 * time.Second
	}
	if s.BodyTimeout <= 0 {
		s.BodyTimeout = 10 * time.Second
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
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of descriptors, or a connection reset before it was
			// taken: wait and go on, as net/http does, rather than stop
			// the listener (and with it vigil serve).
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.Log.Warn("gate listener: accepting a connection failed; retrying", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		tc, ok := nc.(*net.TCPConn)
		if !ok {
			nc.Close()
			return fmt.Errorf("threadhttp: %T is not a TCP connection", nc)
		}
		s.mu.Lock()
		full := len(s.conns) >= s.MaxConns
		// A connection ended for this one leaves the set a moment later:
		// at most evictSlack may be leaving, so threads stay bounded.
		if full && len(s.conns) < s.MaxConns+evictSlack {
			if old := s.longestWaiting(); old != nil && old.claim() {
				old.bc.InterruptRead() // it ends and leaves; the new one takes its place
				s.evicted.Add(1)
				full = false
			}
		}
		s.mu.Unlock()
		if full || s.shutting.Load() {
			s.refused.Add(1)
			go s.refuse(tc)
			continue
		}
		bc, err := blockio.FromTCP(tc)
		if err != nil {
			s.Log.Warn("gate listener: a connection could not be made blocking", "remote", nc.RemoteAddr(), "err", err)
			continue
		}
		c := &conn{s: s, bc: bc}
		c.waiting.Store(time.Now().UnixNano())
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

// longestWaiting is the connection that has waited longest for a request
// (or its handshake), nil when every one is answering; under s.mu.
func (s *Server) longestWaiting() *conn {
	var old *conn
	var since int64
	for c := range s.conns {
		if w := c.waiting.Load(); w > 0 && (old == nil || w < since) {
			old, since = c, w
		}
	}
	return old
}

// refuse answers a connection over the bound 503, on the poller: it costs
// no thread. Over TLS it is closed unanswered: a handshake for a refusal
// would cost the CPU the bound protects.
func (s *Server) refuse(c *net.TCPConn) {
	if s.TLS != nil {
		c.Close()
		return
	}
	body := `{"error":{"code":"overloaded","message":"too many connections to this listener; retry after Retry-After"}}`
	c.SetDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	linger(c)
	c.Close()
}

// linger ends the sending side, then reads what the client still sends,
// briefly: closing with unread bytes would reset the connection and the
// client might lose the answer. The caller closes.
func linger(c interface {
	net.Conn
	CloseWrite() error
}) {
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.CopyN(io.Discard, c, 256<<10)
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
		if c.claim() {
			c.bc.InterruptRead()
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
	s  *Server
	bc *blockio.Conn
	// waiting is when the connection began to wait for a request (or its
	// handshake, or the end of a body the handler left), Unix ns; 0 while
	// it answers one; -1 once Shutdown, or a new connection when all are
	// open, claimed it to end it. The claim and the connection's own moves
	// are compare-and-swaps: a request read as it is claimed is dropped
	// unanswered (as net/http drops one racing an idle close), and one
	// claimed while answering is never ended.
	waiting atomic.Int64
}

// evictSlack bounds the connections ended for newer ones that have not
// left yet.
const evictSlack = 8

// claim marks a waiting connection for ending; false if it is answering
// or already claimed. Under s.mu.
func (c *conn) claim() bool {
	w := c.waiting.Load()
	return w > 0 && c.waiting.CompareAndSwap(w, -1)
}

// rewait marks the connection waiting from now; false if it was claimed.
func (c *conn) rewait() bool {
	w := c.waiting.Load()
	return w >= 0 && c.waiting.CompareAndSwap(w, time.Now().UnixNano())
}

// busy marks the connection answering; false if it was claimed.
func (c *conn) busy() bool {
	w := c.waiting.Load()
	return w > 0 && c.waiting.CompareAndSwap(w, 0)
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
		c.bc.SetDeadline(time.Now().Add(s.HeaderTimeout))
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
		// Shutdown sets shutting, then claims the waiting: marked waiting
		// first, a connection either sees shutting or is claimed.
		if !c.rewait() || s.shutting.Load() {
			return
		}
		c.bc.SetReadDeadline(time.Now().Add(s.IdleTimeout))
		lr.n = int64(s.MaxHeaderBytes) + 4096 // as net/http: room for bufio's read-ahead
		if _, err := br.Peek(1); err != nil {
			return // closed, idle too long, or ended by Shutdown or a newer connection
		}
		c.bc.SetReadDeadline(time.Now().Add(s.HeaderTimeout))
		req, err := http.ReadRequest(br)
		if err != nil {
			c.fail(nc, err)
			return
		}
		if !c.busy() {
			return // claimed while the request came in
		}
		c.bc.SetReadDeadline(time.Now().Add(s.BodyTimeout))
		lr.n = 1 << 62 // the body is bounded by its framing and MaxBodyBytes
		if code, msg := checkRequest(req); code != 0 {
			c.refuseRequest(nc, code, msg)
			return
		}
		req.RemoteAddr, req.TLS = remote, tlsState
		req = req.WithContext(s.ctx)
		w.reset()
		body := http.MaxBytesReader(w, req.Body, s.MaxBodyBytes)
		req.Body = body
		if strings.EqualFold(req.Header.Get("Expect"), "100-continue") && req.ProtoAtLeast(1, 1) && req.ContentLength != 0 {
			// As net/http: the client may send the body once the handler
			// asks for it, not before (a refused request needs none).
			req.Body = &continueReader{ReadCloser: body, c: c, nc: nc}
		}
		if !c.handle(w, req, nc) {
			return
		}
		// What the handler left of the body is read, up to a bound and
		// within a second, so that the next request starts where it
		// should; Shutdown may end this wait.
		keep := !req.Close && !w.closes()
		if rest, ok := req.Body.(*continueReader); !ok || rest.sent {
			c.rewait()
			c.bc.SetReadDeadline(time.Now().Add(time.Second))
			if n, err := io.CopyN(io.Discard, body, 256<<10); err != io.EOF || n == 256<<10 {
				keep = false
			}
			if !c.busy() {
				keep = false // claimed: answer, then end
			}
		} else {
			keep = false // the client still holds its body back
		}
		keep = keep && !s.shutting.Load()
		out = w.appendTo(out[:0], req, keep)
		c.bc.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
		if _, err := nc.Write(out); err != nil {
			return
		}
		if !keep {
			linger(closer{nc, c.bc}) // release closes, under the server's lock
			return
		}
	}
}

// handle runs the handler; a panic is logged and answered 500, as net/http
// would, and ends the connection (false).
func (c *conn) handle(w *response, req *http.Request, nc net.Conn) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			c.s.panics.Add(1)
			c.s.Log.Error("gate listener: a handler panicked", "panic", p, "method", req.Method, "path", req.URL.Path, "stack", string(debug.Stack()))
			w.reset()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":{"code":"internal","message":"internal error; it is logged"}}`)
			out := w.appendTo(nil, req, false)
			c.bc.SetWriteDeadline(time.Now().Add(c.s.WriteTimeout))
			if _, err := nc.Write(out); err == nil {
				linger(closer{nc, c.bc})
			}
			ok = false
		}
	}()
	c.s.Handler.ServeHTTP(w, req)
	c.s.served.Add(1)
	return true
}

// continueReader sends "100 Continue" at the handler's first read of the
// body.
type continueReader struct {
	io.ReadCloser
	c    *conn
	nc   net.Conn
	sent bool
}

func (r *continueReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		r.c.bc.SetWriteDeadline(time.Now().Add(r.c.s.WriteTimeout))
		if _, err := io.WriteString(r.nc, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return 0, err
		}
	}
	return r.ReadCloser.Read(p)
}

// closer is a connection (plain, or TLS over bc) with a CloseWrite that
// ends the sending side of the socket; linger uses it.
type closer struct {
	net.Conn
	bc *blockio.Conn
}

func (c closer) CloseWrite() error {
	if tc, ok := c.Conn.(*tls.Conn); ok {
		return tc.CloseWrite()
	}
	return c.bc.CloseWrite()
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
		c.s.malformed.Add(1) // cut off inside a request, or too slow
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
	}
	if e := r.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
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
	body := fmt.Sprintf(`{"error":{"code":"bad_request","message":%q}}`, msg)
	c.bc.SetWriteDeadline(time.Now().Add(c.s.WriteTimeout))
	fmt.Fprintf(nc, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
	linger(closer{nc, c.bc}) // release closes, under the server's lock
}
