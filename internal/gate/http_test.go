package gate

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDecideRewrites: the rewrite gets each value as the strict decoder
// read it — U+FFFD escaped, sent as raw bytes or made of a lone surrogate
// included — and only what it returns is decided on and recorded, in the
// ring and in the log file. A rewrite that fails refuses the request and
// nothing is recorded.
func TestDecideRewrites(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Log: LogConfig{Recent: 10, MaxFileBytes: 1 << 20, MaxFiles: 2, SyncInterval: 10 * time.Millisecond},
		Links:      LinksConfig{TrustWithoutDirectory: true},
		RateLimits: RateLimitsConfig{Account: RateLimit{Disabled: true}, Vehicle: RateLimit{Disabled: true}}}
	g, stop := runGate(t, Options{Config: cfg, Incidents: openIncidents{}, DataDir: dir, Now: func() time.Time { return now }})
	var seen []string
	pseudonym := func(v string) string { return fmt.Sprintf("P%x", sha256.Sum256([]byte(v)))[:17] }
	rewrite := g.DecideHandler(func(r *CommandRequest) error {
		for _, v := range []*string{&r.Vehicle, &r.Actor.Account, &r.Actor.IP} {
			seen = append(seen, *v)
			*v = pseudonym(*v)
		}
		return nil
	})
	post := func(h http.Handler, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/gate", strings.NewReader(body)))
		return w
	}
	var want []string
	for _, odd := range []string{`\ufffd`, "\xef\xbf\xbd", `\ud800`, `\udfff\ud800`} {
		body := `{"tenant":"fleet-a","vehicle":"WVW` + odd + `1","command":"lock","actor":{"account":"acc-` + odd + `","ip":"192.0.2.1"}}`
		if w := post(rewrite, body); w.Code != 200 {
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
		fffd := strings.Repeat("\ufffd", max(strings.Count(odd, `\u`), 1)) // one per lone surrogate
		want = append(want, "WVW"+fffd+"1", "acc-"+fffd, "192.0.2.1")
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("the rewrite saw %q, want %q", seen, want)
	}
	// A rewrite that fails: refused, nothing decided.
	failing := g.DecideHandler(func(*CommandRequest) error { return errors.New("no key") })
	if w := post(failing, `{"tenant":"fleet-a","vehicle":"WVW-SECRET","command":"lock","actor":{"account":"acc-secret"}}`); w.Code != 500 ||
		strings.Contains(w.Body.String(), "SECRET") {
		t.Errorf("a failed rewrite: %d %s", w.Code, w.Body)
	}
	recs := g.ring.newest(100, func(*DecisionRecord) bool { return true })
	if len(recs) != 4 {
		t.Errorf("%d decisions recorded, want 4", len(recs))
	}
	for _, r := range recs {
		if len(r.Vehicle) != 17 || r.Vehicle[0] != 'P' || len(r.Actor.Account) != 17 || r.Actor.IP == "192.0.2.1" {
			t.Errorf("recorded %+v: not what the rewrite returned", r)
		}
	}
	stop()
	b, err := os.ReadFile(filepath.Join(dir, "gate", logName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "\n") != 4 {
		t.Errorf("the log holds:\n%s\nwant 4 decisions", b)
	}
	for _, clear := range []string{"WVW", "acc-", "192.0.2.1", "SECRET", "secret", "\ufffd", `\ufffd`} {
		if strings.Contains(string(b), clear) {
			t.Errorf("the decision log holds %q:\n%s", clear, b)
		}
	}
}
