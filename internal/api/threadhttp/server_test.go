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
	fmt.Fprintf(w, "%s %s %s %v", r.Method, r.URL.Path, b, r.RemoteAddr != "")
})

// exchange writes raw bytes on a fresh connection and reads one answer.
func exchange(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
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
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
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

// TestTooManyConnections: beyond MaxConns a connection is answered 503 and
// counted, costing no thread.
func TestTooManyConnections(t *testing.T) {
	s := &Server{Handler: echo, MaxConns: 1}
	addr := start(t, s)
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for deadline := time.Now().Add(5 * time.Second); s.Stats().Open != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first connection is not open after 5s")
		}
	}
	resp, body := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "overloaded") {
		t.Errorf("a connection over the bound: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if st := s.Stats(); st.Refused != 1 {
		t.Errorf("refused %d, want 1", st.Refused)
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
	<-entered
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
	s := &Server{Handler: echo, TLS: &tls.Config{Certificates: certs.TLS.Certificates, MinVersion: tls.VersionTLS12}}
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
	// Plain HTTP on the TLS listener gets nothing served.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	if got, _ := io.ReadAll(c); strings.Contains(string(got), "POST") || strings.Contains(string(got), "GET /x") {
		t.Errorf("plain HTTP was served on the TLS listener: %q", got)
	}
}
