package httpingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// memorySink keeps events in memory, deduplicating by (tenant, source, id)
// as the store does.
type memorySink struct {
	mu   sync.Mutex
	seen map[[3]string]bool
	all  []Accepted
	err  error
}

func (m *memorySink) Accept(_ context.Context, b []Accepted) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	if m.seen == nil {
		m.seen = map[[3]string]bool{}
	}
	dups := make([]bool, len(b))
	for i, a := range b {
		k := [3]string{a.Event.Tenant, a.Event.Source, a.Event.ID}
		dups[i] = m.seen[k]
		m.seen[k] = true
		if !dups[i] {
			m.all = append(m.all, a)
		}
	}
	return dups, nil
}

// gzipped is b gzip-encoded.
func gzipped(b []byte) []byte {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(b)
	zw.Close()
	return zb.Bytes()
}

const ev1 = `{"specversion":"1.0","id":"t1","source":"gw","type":"vehicle.telemetry","time":"2026-03-02T07:14:05Z","subject":"V1","data":{"position":{"lat":48.1,"lon":11.5}}}`

func ev(id string) string { return strings.Replace(ev1, `"id":"t1"`, `"id":"`+id+`"`, 1) }

type call struct {
	name        string
	ctype, enc  string
	headers     map[string]string
	body        string
	gzip        bool
	status      int
	accepted    int
	duplicates  int
	rejected    int
	errCode     string // problem code when not 200
	firstReject string // field of the first rejection
}

func TestIngest(t *testing.T) {
	sink := &memorySink{}
	h := New(Options{Sink: sink, MaxBodyBytes: 64 << 10, MaxEvents: 50})
	srv := httptest.NewServer(h)
	defer srv.Close()
	bad := strings.Replace(ev("b1"), "48.1", "123", 1)
	calls := []call{
		{name: "structured", ctype: "application/cloudevents+json", body: ev("s1"), status: 200, accepted: 1},
		{name: "structured resent", ctype: "application/cloudevents+json", body: ev("s1"), status: 200, duplicates: 1},
		{name: "batch", ctype: "application/cloudevents-batch+json", body: "[" + ev("a1") + "," + bad + "," + ev("a2") + "]", status: 200, accepted: 2, rejected: 1, firstReject: "data.position.lat"},
		{name: "ndjson gzip", ctype: "application/x-ndjson", body: ev("n1") + "\n" + ev("n2") + "\n", gzip: true, status: 200, accepted: 2},
		{name: "binary mode", ctype: "application/json", headers: map[string]string{"ce-specversion": "1.0", "ce-id": "bin1", "ce-source": "gw",
			"ce-type": "vehicle.telemetry", "ce-time": "2026-03-02T07:14:05Z", "ce-subject": "V1"}, body: `{"position":{"lat":1,"lon":2}}`, status: 200, accepted: 1},
		{name: "all rejected", ctype: "application/x-ndjson", body: bad, status: 400, rejected: 1, firstReject: "data.position.lat"},
		{name: "two events as structured", ctype: "application/cloudevents+json", body: ev("x1") + "\n" + ev("x2"), status: 400, errCode: "bad_request"},
		{name: "wrong content type", ctype: "text/plain", body: ev("c1"), status: 415, errCode: "unsupported_media"},
		{name: "wrong encoding", ctype: "application/json", enc: "br", body: ev("c1"), status: 415, errCode: "unsupported_media"},
		{name: "not gzip", ctype: "application/json", enc: "gzip", body: ev("c1"), status: 400, errCode: "bad_request"},
		{name: "body too large", ctype: "application/x-ndjson", body: strings.Repeat(ev("big")+"\n", 600), status: 413, errCode: "body_too_large"},
		{name: "too many events", ctype: "application/x-ndjson", body: strings.Repeat("{}\n", 51), status: 413, errCode: "body_too_large"},
		{name: "broken array", ctype: "application/cloudevents-batch+json", body: "[" + ev("q1") + " " + ev("q2") + "]", status: 400, errCode: "bad_request"},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			body := []byte(c.body)
			if c.gzip {
				body, c.enc = gzipped(body), "gzip"
			}
			req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(body))
			req.Header.Set("Content-Type", c.ctype)
			if c.enc != "" {
				req.Header.Set("Content-Encoding", c.enc)
			}
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, data)
			}
			if c.errCode != "" {
				var p struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(data, &p); err != nil || p.Error.Code != c.errCode || p.Error.Message == "" {
					t.Fatalf("problem %s, want code %s", data, c.errCode)
				}
				return
			}
			var res Result
			if err := json.Unmarshal(data, &res); err != nil {
				t.Fatal(err)
			}
			if res.Accepted != c.accepted || res.Duplicates != c.duplicates || res.Rejected != c.rejected {
				t.Errorf("got %+v, want %d accepted, %d duplicates, %d rejected", res, c.accepted, c.duplicates, c.rejected)
			}
			if c.firstReject != "" && (len(res.Errors) == 0 || res.Errors[0].Field != c.firstReject || res.Errors[0].Message == "") {
				t.Errorf("rejections %+v, want the first to name %s", res.Errors, c.firstReject)
			}
		})
	}
	if got := len(sink.all); got != 6 {
		t.Errorf("sink holds %d events, want 6", got)
	}
	// What the sink keeps are each event's own bytes, intact.
	for _, a := range sink.all {
		if !bytes.Contains(a.Raw, []byte(`"id":"`+a.Event.ID+`"`)) && a.Event.ID != "bin1" {
			t.Errorf("raw bytes of %s are not its own: %s", a.Event.ID, a.Raw)
		}
	}
	if st := h.Stats(); st.Overloaded.Load() != 0 || st.TooLarge.Load() != 2 || st.RejectedByReason()["out-of-range data.position.lat"] != 2 {
		t.Errorf("stats: too large %d, by reason %v", st.TooLarge.Load(), st.RejectedByReason())
	}
}

// TestIngestKeepsRawBytesOfLargeBodies: the bytes handed to the sink stay
// each event's own even when the body is larger than the reader's buffer.
func TestIngestKeepsRawBytesOfLargeBodies(t *testing.T) {
	sink := &memorySink{}
	srv := httptest.NewServer(New(Options{Sink: sink}))
	defer srv.Close()
	var body strings.Builder
	for i := range 3000 { // ~500 KiB, twice the reader's buffer
		body.WriteString(ev(fmt.Sprintf("big-%04d", i)) + "\n")
	}
	resp, err := http.Post(srv.URL, "application/x-ndjson", strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(sink.all) != 3000 {
		t.Fatalf("%d events stored", len(sink.all))
	}
	for _, a := range sink.all {
		if want := ev(a.Event.ID); string(a.Raw) != want {
			t.Fatalf("raw of %s corrupted:\n%s\nwant\n%s", a.Event.ID, a.Raw, want)
		}
	}
}

func TestIngestOverloaded(t *testing.T) {
	h := New(Options{Sink: &memorySink{err: ErrOverloaded}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/cloudevents+json", strings.NewReader(ev("o1")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestIngestTenantScope(t *testing.T) {
	h := New(Options{Sink: &memorySink{}, AllowTenant: func(_ *http.Request, tenant string) bool { return tenant == "default" }})
	srv := httptest.NewServer(h)
	defer srv.Close()
	other := strings.Replace(ev("o2"), `"subject"`, `"tenant":"fleet-b","subject"`, 1)
	resp, err := http.Post(srv.URL, "application/x-ndjson", strings.NewReader(ev("o1")+"\n"+other))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res Result
	json.NewDecoder(resp.Body).Decode(&res)
	if res.Accepted != 1 || res.Rejected != 1 || res.Errors[0].Field != "tenant" {
		t.Errorf("%+v", res)
	}
}
