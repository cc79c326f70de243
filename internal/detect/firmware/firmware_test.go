package firmware

import (
	"bufio"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// testConfig reads the test OEM's keys and release manifest from testdata,
// as the configuration file would give them.
func testConfig(t testing.TB) Config {
	texts := map[string]string{}
	for id, file := range map[string]string{"oem-2026": "keys/oem-2026.pem", "oem-ecdsa": "keys/oem-ecdsa.pem"} {
		b, err := os.ReadFile("testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		texts[id] = string(b)
	}
	keys, err := ParseKeys(texts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/releases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var releases [][32]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			d, err := ParseDigest(line)
			if err != nil {
				t.Fatal(err)
			}
			releases = append(releases, d)
		}
	}
	return Config{TrustedKeys: keys, Releases: releases}
}

func TestCases(t *testing.T) {
	cfg := testConfig(t)
	detecttest.Cases(t, func() []detect.Detector {
		f, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return []detect.Detector{f}
	})
}

func TestParsePublicKey(t *testing.T) {
	pem, err := os.ReadFile("testdata/keys/oem-2026.pem")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/keys/oem-2026.b64")
	if err != nil {
		t.Fatal(err)
	}
	fromPEM, err := ParsePublicKey(string(pem))
	if err != nil {
		t.Fatal(err)
	}
	fromRaw, err := ParsePublicKey(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !fromPEM.(ed25519.PublicKey).Equal(fromRaw) {
		t.Error("the PEM and the raw base64 form of one key differ")
	}
	der := strings.Join(strings.Split(strings.TrimSpace(string(pem)), "\n")[1:2], "")
	if k, err := ParsePublicKey(der); err != nil || !fromPEM.(ed25519.PublicKey).Equal(k) {
		t.Errorf("base64 PKIX DER: %v", err)
	}
	ec, err := os.ReadFile("testdata/keys/oem-ecdsa.pem")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePublicKey(string(ec)); err != nil {
		t.Errorf("ECDSA P-256 PEM: %v", err)
	}
	for name, in := range map[string]string{
		"empty":       "  ",
		"not base64":  "not a key!",
		"private key": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n",
		"short":       base64.StdEncoding.EncodeToString([]byte("too short")),
		"two blocks":  string(pem) + string(pem),
	} {
		if _, err := ParsePublicKey(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseKeys(map[string]string{"k1": "nope"}); err == nil || !strings.Contains(err.Error(), `"k1"`) {
		t.Errorf("ParseKeys error does not name the key id: %v", err)
	}
	if _, err := New(Config{TrustedKeys: map[string]crypto.PublicKey{"x": "a string"}}); err == nil {
		t.Error("New accepted a key of an unsupported type")
	}
}

func TestParseDigest(t *testing.T) {
	if _, err := ParseDigest(strings.Repeat("ab", 32)); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("zz", 32), strings.Repeat("ab", 33)} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		cmp  int
		ok   bool
	}{
		{"4.10.0", "4.9.2", 1, true},
		{"4.2.1", "4.3.0", -1, true},
		{"v2.8", "2.8.0", 0, true},
		{"4.2.1-mod", "4.2.1", 0, true},
		{"4.2.1+build7", "4.2.2", -1, true},
		{"7", "7.0.1", -1, true},
		{"", "4.2.1", 0, false},
		{"beta", "4.2.1", 0, false},
		{"2026.03.1", "2025.12.9", 1, true},
	} {
		cmp, ok := CompareVersions(c.a, c.b)
		if cmp != c.cmp || ok != c.ok {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d, %v", c.a, c.b, cmp, ok, c.cmp, c.ok)
		}
	}
}

// BenchmarkFirmware is a campaign wave: one genuine signed image installed
// on vehicle after vehicle (the signature is verified once per shard).
func BenchmarkFirmware(b *testing.B) {
	cfg := testConfig(b)
	f, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	c := detecttest.Context(f, detect.KindVehicle, "V1")
	c.Local = f.NewShardState()
	ev := campaignInstall(b)
	v := &twin.Vehicle{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 1e9
		f.OnEvent(c, detect.State{Vehicle: v}, ev)
	}
}

// campaignInstall is the first install of quiet-campaign-wave.ndjson.
func campaignInstall(tb testing.TB) *event.Event {
	b, err := os.ReadFile("testdata/quiet-campaign-wave.ndjson")
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	ev, err := event.NewDecoder(event.Limits{}).Decode([]byte(lines[2]))
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

// FuzzParsePublicKey feeds the key parser arbitrary configuration text: it
// must return a supported key or an error, never panic.
func FuzzParsePublicKey(f *testing.F) {
	for _, file := range []string{"keys/oem-2026.pem", "keys/oem-ecdsa.pem", "keys/oem-2026.b64"} {
		b, err := os.ReadFile("testdata/" + file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParsePublicKey(in)
		if err != nil {
			return
		}
		if _, err := checkKey(k); err != nil {
			t.Fatalf("ParsePublicKey returned an unsupported key from %q: %v", in, err)
		}
	})
}
