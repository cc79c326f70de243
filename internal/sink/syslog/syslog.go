// Package syslog delivers alerts as RFC 5424 messages: over TLS (RFC 5425)
// or TCP with octet-counting framing (RFC 6587), or one per UDP datagram
// (RFC 5426). Structured data names the alert; the message is its JSON:
//
//	<PRI>1 TIMESTAMP HOST vigil - CATEGORY [vigil@32473 id="…" tenant="…" category="…" severity="…" detector="…"] BOM{…}
//
// A TCP or TLS write that succeeds is delivered as far as syslog can tell:
// the protocol has no acknowledgement. UDP gives no guarantee at all.
package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sink"
)

// SDID is the structured data element's id. 32473 is the private
// enterprise number set aside for examples (RFC 5612): vigil has none.
const SDID = "vigil@32473"

// MaxUDP bounds a datagram; a longer message is cut (its JSON then no
// longer parses, and the structured data still names the alert).
const MaxUDP = 8192

// Syslog is a sink.Target.
type Syslog struct {
	proto     string
	addr      string
	tls       *tls.Config
	facility  int
	app       string
	host      string
	conn      net.Conn
	lastWrite time.Time
	buf       []byte
	now       func() time.Time
}

var _ sink.Target = (*Syslog)(nil)

// New builds a syslog sink from a validated configuration. It connects on
// the first delivery.
func New(c sink.Config, env sink.Env) (*Syslog, error) {
	if c.Type != sink.TypeSyslog {
		return nil, fmt.Errorf("syslog: a %s sink", c.Type)
	}
	s := &Syslog{proto: c.Protocol, addr: c.Address, facility: c.FacilityCode(), app: c.AppName, host: c.Hostname, now: time.Now}
	if s.host == "" {
		h, err := os.Hostname()
		if err != nil || !printable(h) {
			h = "-"
		}
		s.host = h
	}
	if c.Protocol == "tls" {
		host, _, _ := net.SplitHostPort(c.Address)
		cfg, err := env.TLSConfig(c.TLS, host)
		if err != nil {
			return nil, err
		}
		s.tls = cfg
	}
	return s, nil
}

func printable(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := range len(s) {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// severity maps an alert's severity to syslog's.
func severity(s event.Severity) int {
	switch s {
	case event.SeverityCritical:
		return 2 // crit
	case event.SeverityHigh:
		return 3 // err
	case event.SeverityMedium:
		return 4 // warning
	}
	return 5 // notice
}

// Format appends one RFC 5424 message (without framing).
func Format(dst []byte, facility int, host, app string, now time.Time, m *sink.Message) []byte {
	a := m.Alert
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(facility*8+severity(a.Severity)), 10)
	dst = append(dst, ">1 "...)
	dst = now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
	dst = append(dst, ' ')
	dst = append(dst, host...)
	dst = append(dst, ' ')
	dst = append(dst, app...)
	dst = append(dst, " - "...)
	dst = append(dst, a.Category.String()...) // MSGID: at most 20 ASCII characters
	dst = append(dst, " ["+SDID...)
	param := func(name, v string) {
		dst = append(dst, ' ')
		dst = append(dst, name...)
		dst = append(dst, `="`...)
		dst = appendParam(dst, v)
		dst = append(dst, '"')
	}
	param("id", a.ID)
	param("tenant", a.Tenant)
	param("category", a.Category.String())
	param("severity", a.Severity.String())
	param("detector", a.Detector)
	if a.Incident != "" {
		param("incident", a.Incident)
	}
	if a.Shadow {
		param("shadow", "true")
	}
	dst = append(dst, "] \xef\xbb\xbf"...) // BOM: the message is UTF-8
	json := m.JSON
	if json == nil {
		json = alert.AppendJSON(nil, a)
	}
	return append(dst, json...)
}

// appendParam escapes a PARAM-VALUE: ", \ and ] take a backslash; control
// characters (not valid in any field) become spaces.
func appendParam(dst []byte, v string) []byte {
	for i := range len(v) {
		c := v[i]
		switch {
		case c == '"' || c == '\\' || c == ']':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// Send writes one message; a failed write drops the connection so the
// retry dials again.
func (s *Syslog) Send(ctx context.Context, m *sink.Message) error {
	msg := Format(s.buf[:0], s.facility, s.host, s.app, s.now(), m)
	if s.proto == "udp" && len(msg) > MaxUDP {
		msg = msg[:MaxUDP]
	}
	s.buf = msg
	if s.conn != nil && s.proto != "udp" && time.Since(s.lastWrite) > time.Second && peerClosed(s.conn) {
		// The receiver went away while idle (a restart): a write would
		// land in the kernel's buffer and be lost without an error. Dial
		// again. (Checked only after a pause: it costs a millisecond.)
		s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		c, err := s.dial(ctx)
		if err != nil {
			return err
		}
		s.conn = c
	}
	if d, ok := ctx.Deadline(); ok {
		s.conn.SetWriteDeadline(d)
	}
	var err error
	if s.proto == "udp" {
		_, err = s.conn.Write(msg)
	} else {
		frame := strconv.AppendInt(make([]byte, 0, len(msg)+8), int64(len(msg)), 10)
		frame = append(frame, ' ')
		frame = append(frame, msg...)
		_, err = s.conn.Write(frame)
	}
	if err != nil {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("syslog %s://%s: %w", s.proto, s.addr, err)
	}
	s.lastWrite = time.Now()
	return nil
}

// peerClosed reports whether the other side has closed a stream: a
// receiver never sends, so anything but a timeout on an instant read means
// the connection is gone.
func peerClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	c.SetReadDeadline(time.Time{})
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func (s *Syslog) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	switch s.proto {
	case "tls":
		c, err := (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
		if err != nil {
			return nil, fmt.Errorf("syslog tls://%s: %w", s.addr, err)
		}
		return c, nil
	case "tcp", "udp":
		c, err := d.DialContext(ctx, s.proto, s.addr)
		if err != nil {
			return nil, fmt.Errorf("syslog %s://%s: %w", s.proto, s.addr, err)
		}
		return c, nil
	}
	return nil, sink.Permanent(errors.New("syslog: unknown protocol " + s.proto))
}

// Close closes the connection.
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
