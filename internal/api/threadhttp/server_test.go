//go:build linux

package threadhttp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// start serves h on a loopback port; the test shuts it down.
func start(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

// echo answers with the method, path, body and remote address it saw.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Injected", "a\r\nSet-Cookie: evil=1")
	if r.URL.Path == "/bye" {
		w.Header().Set("Connection", "close")
	}
	fmt.Fprintf(w, "%s %s %s %v", r.Method, r.URL.Path, b, r.RemoteAddr != "")
})

// within waits for ch for at most 10 s.
func within[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal(what + " within 10s")
	}
}

// waitOpen waits, at most 10 s, until n connections are open.
func waitOpen(t *testing.T, s *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Open != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after 10s, want %d", s.Stats().Open, n)
		}
	}
}

// dial connects to addr for at most 10 s; the test closes it.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// exchange writes raw bytes on a fresh connection and reads one answer.
func exchange(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", raw, err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServe(t *testing.T) {
	s := &Server{Handler: echo, MaxHeaderBytes: 1024, MaxBodyBytes: 64}
	addr := start(t, s)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for i := range 3 { // one kept-alive connection
		resp, err := client.Post("http://"+addr+"/v1/gate", "application/json", strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf(`POST /v1/gate {"n":%d} true`, i)
		if resp.StatusCode != 200 || string(b) != want || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("answer %d: %d %q %v, want 200 %q", i, resp.StatusCode, b, resp.Header, want)
		}
		if resp.Header.Get("X-Injected") != "" || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("a header value with CR LF went out: %v", resp.Header)
		}
	}
	if st := s.Stats(); st.Open != 1 || st.Served != 3 {
		t.Errorf("stats %+v, want 1 connection open and 3 served", st)
	}

	cases := []struct {
		name, raw string
		status    int
		body      string
		closed    bool
	}{
		{"chunked body", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, "POST /a abc true", false},
		{"HTTP/1.0 needs no Host", "GET /b HTTP/1.0\r\n\r\n", 200, "GET /b  true", true},
		{"Connection: close", "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, "GET /c  true", true},
		{"body over the bound", "POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n" + strings.Repeat("z", 65), 413, "", true},
		{"expect continue", "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", 100, "", false},
		{"malformed request line", "HELLO\r\n\r\n", 400, "bad_request", true},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "missing Host", true},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Host", true},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP/1.x", true},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n", 417, "Expect", true},
		{"handler's Connection: close", "GET /bye HTTP/1.1\r\nHost: x\r\n\r\n", 200, "GET /bye", true},
		{"headers over the bound", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 6000) + "\r\n\r\n", 431, "longer than 1024", true},
		{"bad header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400, "", true},
	}
	for _, c := range cases {
		resp, body := exchange(t, addr, c.raw)
		if resp.StatusCode != c.status || !strings.Contains(body, c.body) || resp.Close != c.closed {
			t.Errorf("%s: %d %q close=%v, want %d with %q close=%v", c.name, resp.StatusCode, body, resp.Close, c.status, c.body, c.closed)
		}
		if resp.StatusCode >= 400 && resp.StatusCode != 413 && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: refused with Content-Type %q, want the catalogue's JSON", c.name, resp.Header.Get("Content-Type"))
		}
	}
	if st := s.Stats(); st.Malformed < 7 {
		t.Errorf("malformed requests counted %d, want at least 7", st.Malformed)
	}
}

// TestExpectContinue: the interim answer, then the final one.
func TestExpectContinue(t *testing.T) {
	addr := start(t, &Server{Handler: echo})
	c := dial(t, addr)
	io.WriteString(c, "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q, want 100 Continue", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "ok")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "POST /e ok true" {
		t.Errorf("final answer %d %q", resp.StatusCode, b)
	}
}

// TestTooManyConnections: when all connections are open, the one that has
// waited longest for a request is closed for a new one; when every one is
// answering, a new one is answered 503 and counted, costing no thread.
func TestTooManyConnections(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	s := &Server{MaxConns: 1, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "done")
	})}
	addr := start(t, s)
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	waitOpen(t, s, 1)
	if resp, body := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); resp.StatusCode != 200 || body != "done" {
		t.Errorf("a connection beside an idle one at the bound: %d %q, want it served", resp.StatusCode, body)
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("the idle connection: read %d, %v; want EOF (closed for the new one)", n, err)
	}
	if st := s.Stats(); st.Evicted != 1 || st.Refused != 0 {
		t.Errorf("stats %+v, want 1 evicted and none refused", st)
	}

	waitOpen(t, s, 0) // the one served is closed: none is left to end for the next
	busy := dial(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	within(t, entered, "the handler was not entered")
	resp, body := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	close(release)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "overloaded") {
		t.Errorf("a connection over the bound while the other answers: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if st := s.Stats(); st.Refused != 1 {
		t.Errorf("refused %d, want 1", st.Refused)
	}
}

// TestSlowSenders: a connection silent past IdleTimeout, or sending its
// headers slower than HeaderTimeout, is closed; a body may take
// BodyTimeout from the end of the headers, whatever the wait before.
func TestSlowSenders(t *testing.T) {
	s := &Server{Handler: echo, IdleTimeout: 300 * time.Millisecond, HeaderTimeout: 200 * time.Millisecond, BodyTimeout: 2 * time.Second}
	addr := start(t, s)
	silent := dial(t, addr)
	if got, err := io.ReadAll(silent); len(got) != 0 || err != nil {
		t.Errorf("a silent connection: %q %v, want closed unanswered", got, err)
	}
	slow := dial(t, addr)
	io.WriteString(slow, "GET / HTTP/1.1\r\n")
	time.Sleep(400 * time.Millisecond) // beyond HeaderTimeout, not the test's limit
	io.WriteString(slow, "Host: x\r\n\r\n")
	if got, _ := io.ReadAll(slow); strings.Contains(string(got), "200 OK") {
		t.Errorf("headers sent slower than HeaderTimeout were answered: %q", got)
	}
	// Waiting most of IdleTimeout, then a body 400 ms after its headers.
	c := dial(t, addr)
	time.Sleep(250 * time.Millisecond)
	io.WriteString(c, "POST /late HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n")
	time.Sleep(400 * time.Millisecond)
	io.WriteString(c, "ok")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "POST /late ok true" {
		t.Errorf("a body within BodyTimeout: %d %q", resp.StatusCode, b)
	}
	if st := s.Stats(); st.Malformed != 1 {
		t.Errorf("malformed %d, want 1 (the slow headers)", st.Malformed)
	}
}

// TestPanic: a handler's panic is answered 500 and logged; the server goes
// on.
func TestPanic(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			panic("boom")
		}
		io.WriteString(w, "fine")
	})}
	addr := start(t, s)
	resp, body := exchange(t, addr, "GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 500 || !strings.Contains(body, `"code":"internal"`) || !resp.Close {
		t.Errorf("a panic: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if resp, body := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 || body != "fine" {
		t.Errorf("after a panic: %d %q", resp.StatusCode, body)
	}
	if st := s.Stats(); st.Panics != 1 {
		t.Errorf("panics %d, want 1", st.Panics)
	}
}

// failingListener fails its first Accept as a process out of descriptors
// would.
type failingListener struct {
	net.Listener
	failed bool
}

func (l *failingListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// TestAcceptError: a failed accept is retried, not the end of the
// listener.
func TestAcceptError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: echo}
	done := make(chan error, 1)
	go func() { done <- s.Serve(&failingListener{Listener: ln}) }()
	resp, body := exchange(t, ln.Addr().String(), "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || body != "GET /x  true" {
		t.Errorf("after a failed accept: %d %q", resp.StatusCode, body)
	}
	s.Shutdown(context.Background())
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}

// TestShutdown: an idle connection is closed at once; a request being
// answered finishes, with Connection: close; then Shutdown returns.
func TestShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	within(t, entered, "the handler was not entered")
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("idle connection at shutdown: read %d, %v; want EOF", n, err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a request was being answered", err)
	default:
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "done" || !resp.Close {
		t.Errorf("the request under way: %d %q close=%v, want 200 \"done\" and Connection: close", resp.StatusCode, b, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the listener still accepts after Shutdown")
	}
}

func TestTLS(t *testing.T) {
	certs := httptest.NewUnstartedServer(nil)
	certs.StartTLS() // for its certificate and a client that trusts it
	defer certs.Close()
	s := &Server{TLS: &tls.Config{Certificates: certs.TLS.Certificates, MinVersion: tls.VersionTLS12},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/boom" {
				panic("boom")
			}
			echo(w, r)
		})}
	addr := start(t, s)
	client := certs.Client()
	resp, err := client.Post("https://"+addr+"/x", "text/plain", strings.NewReader("secret"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "POST /x secret true" || resp.TLS == nil {
		t.Errorf("over TLS: %d %q", resp.StatusCode, b)
	}
	// A handler's panic is answered 500 over TLS too.
	resp, err = client.Get("https://" + addr + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Errorf("a panic over TLS: %d, want 500", resp.StatusCode)
	}
	// Plain HTTP on the TLS listener gets nothing served.
	c := dial(t, addr)
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	if got, _ := io.ReadAll(c); strings.Contains(string(got), "POST") || strings.Contains(string(got), "GET /x") {
		t.Errorf("plain HTTP was served on the TLS listener: %q", got)
	}
}

// TestEvictionUnderFlood: a flood of silent connections against a bound of
// two neither keeps a client's requests from being answered, nor runs the
// handler for a request whose answer is then lost, nor opens threads
// beyond the bound and its slack.
func TestEvictionUnderFlood(t *testing.T) {
	var runs atomic.Int64
	s := &Server{MaxConns: 2, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		io.WriteString(w, "ok")
	})}
	addr := start(t, s)
	stop := make(chan struct{})
	var flood sync.WaitGroup
	for range 4 {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
					c.Close()
				}
			}
		}()
	}
	maxOpen := 0
	var answered int64
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		maxOpen = max(maxOpen, s.Stats().Open)
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for range 20 { // keep-alive until the connection is ended
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				break
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				break
			}
			io.ReadAll(resp.Body)
			if resp.StatusCode == 200 {
				answered++
			}
		}
		c.Close()
	}
	close(stop)
	flood.Wait()
	if answered == 0 {
		t.Fatal("no request answered during the flood")
	}
	// Give the last handler a moment to be counted, then compare.
	for deadline := time.Now().Add(2 * time.Second); runs.Load() != answered && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if n := runs.Load(); n != answered {
		t.Errorf("the handler ran %d times, %d answers reached the client: answers were lost", n, answered)
	}
	if maxOpen > s.MaxConns+evictSlack {
		t.Errorf("%d connections open at once, bound %d + %d", maxOpen, s.MaxConns, evictSlack)
	}
	t.Logf("answered %d, stats %+v, most open %d", answered, s.Stats(), maxOpen)
}
