package app

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-project/vigil/internal/blockio"
)

// gateConn is the load generator's client for the command gate over plain
// HTTP/1.1: one keep-alive connection, each request written with one
// write, each answer read in place. net/http's client costs about three
// times the CPU per request (its connection goroutines and their
// hand-offs), CPU that the server under measurement would lack when both
// share a small machine. https URLs go through net/http.
type gateConn struct {
	addr, host, path, key string
	timeout               time.Duration
	// blocking reads and writes with system calls that block the thread
	// (internal/blockio), as a thread-per-request back-end does, so that
	// the generator's own scheduler adds no wait to what it measures.
	blocking bool
	conn     net.Conn
	br       *bufio.Reader
	req      []byte
}

// newGateConn connects to addr (host:port) and posts to path, naming host.
func newGateConn(addr, host, path, key string, timeout time.Duration) *gateConn {
	return &gateConn{addr: addr, host: host, path: path, key: key, timeout: timeout}
}

// maxGateAnswer bounds an answer's body, as postGate does.
const maxGateAnswer = 64 << 10

// post sends one decision request and returns the answer's status and
// body (in buf's storage). A failed exchange closes the connection; the
// next post dials again.
func (g *gateConn) post(body, buf []byte) (int, []byte, error) {
	if g.conn == nil {
		c, err := net.DialTimeout("tcp", g.addr, g.timeout)
		if err != nil {
			return 0, buf[:0], err
		}
		if tc, ok := c.(*net.TCPConn); ok && g.blocking {
			bc, err := blockio.FromTCP(tc)
			if err != nil {
				return 0, buf[:0], err
			}
			c = bc
		}
		g.conn, g.br = c, bufio.NewReaderSize(c, 4096)
	}
	g.req = append(append(append(g.req[:0], "POST "...), g.path...), " HTTP/1.1\r\nHost: "...)
	g.req = append(g.req, g.host...)
	g.req = append(g.req, "\r\nAuthorization: Bearer "...)
	g.req = append(g.req, g.key...)
	g.req = append(g.req, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	g.req = strconv.AppendInt(g.req, int64(len(body)), 10)
	g.req = append(g.req, "\r\n\r\n"...)
	g.req = append(g.req, body...)
	g.conn.SetDeadline(time.Now().Add(g.timeout))
	if _, err := g.conn.Write(g.req); err != nil {
		g.close()
		return 0, buf[:0], err
	}
	status, out, keep, err := readAnswer(g.br, buf[:0])
	if err != nil || !keep {
		g.close()
	}
	return status, out, err
}

func (g *gateConn) close() {
	if g.conn != nil {
		g.conn.Close()
		g.conn, g.br = nil, nil
	}
}

// readAnswer reads one HTTP/1.1 response: status line, headers, and a body
// framed by Content-Length or chunked encoding. keep reports whether the
// connection may carry another request.
func readAnswer(br *bufio.Reader, out []byte) (status int, body []byte, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, out, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, out, false, fmt.Errorf("bad status line %q", clipText(line))
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, out, false, fmt.Errorf("bad status line %q", clipText(line))
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return status, out, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return status, out, false, fmt.Errorf("bad header line %q", clipText(h))
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return status, out, false, fmt.Errorf("bad Content-Length %q", value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
			if !chunked {
				return status, out, false, fmt.Errorf("unsupported Transfer-Encoding %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				keep = keep && !bytes.EqualFold(bytes.TrimSpace(tok), []byte("close"))
			}
		}
	}
	switch {
	case chunked:
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return status, out, false, err
			}
			size, _, _ := bytes.Cut(bytes.TrimRight(l, "\r\n"), []byte(";"))
			n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 32)
			if err != nil {
				return status, out, false, fmt.Errorf("bad chunk size %q", clipText(l))
			}
			if n == 0 {
				for { // trailers, then the empty line
					t, err := br.ReadSlice('\n')
					if err != nil {
						return status, out, false, err
					}
					if len(bytes.TrimRight(t, "\r\n")) == 0 {
						return status, out, keep, nil
					}
				}
			}
			if out, err = readN(br, out, int(n)); err != nil {
				return status, out, false, err
			}
			if crlf, err := br.ReadSlice('\n'); err != nil || len(bytes.TrimRight(crlf, "\r\n")) != 0 {
				return status, out, false, fmt.Errorf("chunk not followed by CRLF: %q %v", clipText(crlf), err)
			}
		}
	case length >= 0:
		out, err = readN(br, out, length)
		return status, out, keep && err == nil, err
	default:
		// No framing: the body runs to the end of the connection.
		w := bytes.NewBuffer(out)
		_, err = w.ReadFrom(io.LimitReader(br, maxGateAnswer))
		return status, w.Bytes(), false, err
	}
}

// readN appends n body bytes to out, refusing more than maxGateAnswer.
func readN(br *bufio.Reader, out []byte, n int) ([]byte, error) {
	if len(out)+n > maxGateAnswer {
		return out, fmt.Errorf("answer longer than %d bytes", maxGateAnswer)
	}
	start := len(out)
	out = slices.Grow(out, n)[:start+n]
	m, err := io.ReadFull(br, out[start:])
	return out[:start+m], err
}
