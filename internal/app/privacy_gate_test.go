package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/pseudo"
)

// TestPrivacyGateOddCharacters: with pseudonymisation on, a gate request
// whose vehicle and account hold U+FFFD — escaped, as raw bytes, or made
// by the decoder of a lone surrogate — is decided on and recorded under
// pseudonyms: the clear values reach neither GET /v1/gate/decisions nor
// the decision log file, which erasure does not reach.
func TestPrivacyGateOddCharacters(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "vigil.key")
	if err := os.WriteFile(keyFile, privacyTestSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	ts, dataDir := gateServer(t, "privacy:\n  enabled: true\n  key_file: "+keyFile+"\n", "")
	p, err := pseudo.New(pseudo.Options{Secret: privacyTestSecret, Default: pseudo.Settings{Fields: pseudo.AllFields}})
	if err != nil {
		t.Fatal(err)
	}
	admin := ts.key(t, "admin", "*")
	stored := func(k pseudo.Kind, v string) string {
		s, _, _, err := p.Stored("fleet-a", k, v)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := map[string]string{} // pseudonymised vehicle → account
	for _, odd := range []string{`\ufffd`, "\xef\xbf\xbd", `\ud800`} {
		body := `{"tenant":"fleet-a","vehicle":"WVWZZZ1JZXW00000` + odd + `","command":"lock","channel":"app","actor":{"account":"acc-` + odd + `-1042"}}`
		for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			r := gatePost(t, ts, admin, body)
			if r.status == 200 {
				break
			}
			if r.status != 503 || time.Since(start) > 20*time.Second { // 503: the gate's first load of the incidents
				t.Fatalf("POST /v1/gate %q: %d %s", body, r.status, r.body)
			}
		}
		want[stored(pseudo.Vehicle, "WVWZZZ1JZXW00000\ufffd")] = stored(pseudo.Account, "acc-\ufffd-1042")
	}
	var list struct {
		Decisions []map[string]any `json:"decisions"`
		Recent    int              `json:"recent"`
	}
	if code := ts.call(t, "GET", "/v1/gate/decisions", admin, nil, nil, &list); code != 200 || len(list.Decisions) != 3 {
		t.Fatalf("decisions: %d %+v", code, list)
	}
	for _, d := range list.Decisions {
		vehicle, _ := d["vehicle"].(string)
		actor, _ := d["actor"].(map[string]any)
		if acct, ok := want[vehicle]; !ok || actor["account"] != acct {
			t.Errorf("decision recorded for vehicle %q, account %q: want the pseudonyms %v", vehicle, actor["account"], want)
		}
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "gate", "decisions.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "\n") != 3 {
		t.Errorf("the decision log holds:\n%s\nwant 3 decisions", b)
	}
	for _, clear := range []string{"WVWZZZ", "acc-"} {
		if strings.Contains(string(b), clear) {
			t.Errorf("a clear identity (%s…) reached the decision log:\n%s", clear, b)
		}
	}
}
