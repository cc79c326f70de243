package syslog_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sink"
	"github.com/vigil-project/vigil/internal/sink/sinktest"
	"github.com/vigil-project/vigil/internal/sink/syslog"
)

// rfc5424 matches the messages vigil writes: header, one SD element, BOM
// and the JSON.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[vigil@32473((?: [a-z]+="(?:[^"\\\]]|\\["\\\]])*")+)\] \x{FEFF}(.*)$`)
var sdParam = regexp.MustCompile(` ([a-z]+)="((?:[^"\\\]]|\\["\\\]])*)"`)

type message struct {
	pri                         int
	timestamp, host, app, msgid string
	sd                          map[string]string
	alert                       map[string]any
}

func parse(t *testing.T, raw []byte) message {
	t.Helper()
	m := rfc5424.FindSubmatch(raw)
	if m == nil {
		t.Fatalf("not an RFC 5424 message of vigil: %q", raw)
	}
	pri, _ := strconv.Atoi(string(m[1]))
	out := message{pri: pri, timestamp: string(m[2]), host: string(m[3]), app: string(m[4]), msgid: string(m[6]), sd: map[string]string{}}
	if string(m[5]) != "-" {
		t.Errorf("PROCID %q", m[5])
	}
	if _, err := time.Parse(time.RFC3339Nano, out.timestamp); err != nil {
		t.Errorf("TIMESTAMP %q: %v", out.timestamp, err)
	}
	for _, p := range sdParam.FindAllSubmatch(m[7], -1) {
		v := strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\]`, `]`).Replace(string(p[2]))
		out.sd[string(p[1])] = v
	}
	if err := json.Unmarshal(m[8], &out.alert); err != nil {
		t.Fatalf("MSG is not the alert's JSON: %v: %q", err, m[8])
	}
	return out
}

// readFrame reads one octet-counted frame (RFC 6587 3.4.1).
func readFrame(r *bufio.Reader) ([]byte, error) {
	n, err := r.ReadString(' ')
	if err != nil {
		return nil, err
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
	if err != nil || size <= 0 || size > 1<<20 {
		return nil, fmt.Errorf("bad frame length %q", n)
	}
	buf := make([]byte, size)
	_, err = io.ReadFull(r, buf)
	return buf, err
}

func mkAlert(id string) *alert.Alert {
	t := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()
	return &alert.Alert{ID: id, Time: t, FirstSeen: t, LastSeen: t, Tenant: "fleet-a", Category: alert.AccountTakeover,
		Severity: event.SeverityCritical, Detector: `ato."take]over\`, Title: "t", Explanation: "e", Incident: "inc-1",
		Entities: alert.Entities{Account: "acc-1"}, Mappings: alert.DefaultMappings(alert.AccountTakeover)}
}

func msg(a *alert.Alert) *sink.Message {
	return &sink.Message{Alert: a, JSON: alert.AppendJSON(nil, a)}
}

func newSyslog(t *testing.T, c sink.Config) *syslog.Syslog {
	t.Helper()
	c.Name, c.Type = "siem", sink.TypeSyslog
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := syslog.New(c, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func checkMessage(t *testing.T, got message, id string) {
	t.Helper()
	if got.pri != 16*8+2 { // local0, crit
		t.Errorf("PRI %d, want 130", got.pri)
	}
	if got.app != "vigil" || got.host != "vigil-test" || got.msgid != "account-takeover" {
		t.Errorf("header %+v", got)
	}
	want := map[string]string{"id": id, "tenant": "fleet-a", "category": "account-takeover", "severity": "critical",
		"detector": `ato."take]over\`, "incident": "inc-1"}
	for k, v := range want {
		if got.sd[k] != v {
			t.Errorf("SD %s = %q, want %q", k, got.sd[k], v)
		}
	}
	if got.alert["id"] != id || got.alert["detector"] != `ato."take]over\` {
		t.Errorf("JSON %v", got.alert)
	}
}

func TestTCPFraming(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	frames := make(chan []byte, 10)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			f, err := readFrame(r)
			if err != nil {
				close(frames)
				return
			}
			frames <- f
		}
	}()
	s := newSyslog(t, sink.Config{Address: ln.Addr().String(), Protocol: "tcp", Hostname: "vigil-test"})
	ctx := context.Background()
	for _, id := range []string{"al-1", "al-2", "al-3"} {
		if err := s.Send(ctx, msg(mkAlert(id))); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"al-1", "al-2", "al-3"} {
		checkMessage(t, parse(t, <-frames), id)
	}
}

// TestTCPReconnects: a receiver that restarted while vigil was idle does
// not swallow the next message.
func TestTCPReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	frames := make(chan []byte, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f, err := readFrame(bufio.NewReader(c))
			c.Close() // one message per connection: a receiver that restarts
			if err == nil {
				frames <- f
			}
		}
	}()
	s := newSyslog(t, sink.Config{Address: ln.Addr().String(), Protocol: "tcp", Hostname: "vigil-test"})
	if err := s.Send(context.Background(), msg(mkAlert("al-1"))); err != nil {
		t.Fatal(err)
	}
	checkMessage(t, parse(t, <-frames), "al-1")
	time.Sleep(1100 * time.Millisecond) // idle: the sink checks its connection before the next write
	if err := s.Send(context.Background(), msg(mkAlert("al-2"))); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-frames:
		checkMessage(t, parse(t, f), "al-2")
	case <-time.After(10 * time.Second):
		t.Fatal("the message after the receiver's restart was lost")
	}
}

func TestTLS(t *testing.T) {
	cert, caFile := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	frames := make(chan []byte, 10)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			f, err := readFrame(r)
			if err != nil {
				return
			}
			frames <- f
		}
	}()
	s := newSyslog(t, sink.Config{Address: ln.Addr().String(), Hostname: "vigil-test", TLS: sink.TLS{CAFile: caFile, ServerName: "syslog.test"}})
	a := mkAlert("al-tls")
	a.Shadow = true
	if err := s.Send(context.Background(), msg(a)); err != nil {
		t.Fatal(err)
	}
	got := parse(t, <-frames)
	checkMessage(t, got, "al-tls")
	if got.sd["shadow"] != "true" {
		t.Errorf("shadow alert: SD %v", got.sd)
	}

	// A server the CA does not vouch for is refused.
	other, _ := selfSigned(t)
	bad, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{other}})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	go func() {
		for {
			c, err := bad.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	s2 := newSyslog(t, sink.Config{Address: bad.Addr().String(), Hostname: "vigil-test", TLS: sink.TLS{CAFile: caFile, ServerName: "syslog.test"}})
	if err := s2.Send(context.Background(), msg(mkAlert("al-x"))); err == nil {
		t.Error("delivered to a server with an untrusted certificate")
	}
}

func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := newSyslog(t, sink.Config{Address: pc.LocalAddr().String(), Protocol: "udp", Hostname: "vigil-test"})
	if err := s.Send(context.Background(), msg(mkAlert("al-udp"))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkMessage(t, parse(t, buf[:n]), "al-udp")
}

// selfSigned makes a certificate for syslog.test and writes it as the CA.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "syslog.test"},
		DNSNames: []string{"syslog.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, ca
}

// TestCrashRestart: a syslog sink (TCP) killed mid-stream and started
// again on the same store: the receiver gets every alert at least once.
func TestCrashRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	got := map[string]int{}
	idRE := regexp.MustCompile(` id="([^"]+)"`)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					f, err := readFrame(r)
					if err != nil {
						return
					}
					if m := idRE.FindSubmatch(f); m != nil {
						mu.Lock()
						got[string(m[1])]++
						mu.Unlock()
					}
				}
			}()
		}
	}()
	c := sink.Config{Name: "siem", Type: sink.TypeSyslog, Address: ln.Addr().String(), Protocol: "tcp", Hostname: "vigil-test"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	sinktest.CrashRestart(t, sinktest.Destination{Config: c,
		Target: func(t testing.TB) sink.Target {
			s, err := syslog.New(c, sink.Env{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Received: func() map[string]int {
			mu.Lock()
			defer mu.Unlock()
			return maps.Clone(got)
		}}, 400)
}
