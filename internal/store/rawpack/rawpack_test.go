package rawpack

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// examples are the ingest contract's valid events, one a line.
func examples(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("../../event/testdata/valid.ndjson") // spec/examples/valid.ndjson
	if err != nil {
		t.Fatalf("the contract's examples: %v", err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil || len(out) == 0 {
		t.Fatalf("the contract's examples: %d events, %v", len(out), err)
	}
	return out
}

// event is one telemetry event unlike any in the dictionary.
const event = `{"specversion":"1.0","id":"gw-000017","source":"oem/connect-gw","type":"vehicle.telemetry","time":"2026-11-21T08:00:00Z","subject":"1HGCM82633A004352","tenant":"acme","data":{"position":{"lat":37.7749,"lon":-122.4194},"speed":13.9,"signals":{"Vehicle.Powertrain.CombustionEngine.IsRunning":true}}}`

func TestRoundTrip(t *testing.T) {
	cases := examples(t)
	cases = append(cases, []byte(event), []byte("{}"), []byte("{\"bytes\":\"\xff\x00 kept as sent\"}"),
		[]byte("\x00 begins like a packed value"), []byte{0}, bytes.Repeat([]byte(event), 300))
	for i, raw := range cases {
		b := Pack(nil, raw)
		if len(b) > MaxPackedLen(len(raw)) {
			t.Errorf("case %d: packed %d bytes into %d, more than MaxPackedLen %d", i, len(raw), len(b), MaxPackedLen(len(raw)))
		}
		if raw[0] == 0 && !Packed(b) {
			t.Errorf("case %d: %q begins with 0x00 but was stored plain: it would read as packed", i, raw)
		}
		got, err := Unpack(b, 1<<20)
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("case %d: Unpack(Pack(%q)) = %q, %v", i, raw, got, err)
		}
	}
}

// heldOut are events the dictionary does not hold: other sources, tenants,
// vehicles and people, every number different, in the simulator's mix.
func heldOut() [][]byte {
	var out [][]byte
	for i := range 200 {
		h := uint64(i+1) * 0x9e3779b97f4a7c15
		vin := fmt.Sprintf("1HGCM8263%dA%06d", i%10, h%1_000_000)
		switch i % 10 {
		case 0:
			out = append(out, fmt.Appendf(nil, `{"specversion":"1.0","id":"cmd-%d","source":"oem/remote-svc","type":"vehicle.command","time":"2026-11-21T08:%02d:%02d.%03dZ","subject":%q,"tenant":"acme-rentals","data":{"command_id":"rc-%x","command":"unlock","stage":"requested","channel":"app","actor":{"account":"user-%d","device":"ph-%x","ip":"198.51.100.%d","role":"owner","user_agent":"AcmeApp/5.%d (iOS 18.1)"}}}`,
				i, i%60, h%60, h%1000, vin, h>>8, h%90_000, h>>20, h%250, i%9))
		case 1:
			out = append(out, fmt.Appendf(nil, `{"specversion":"1.0","id":"li-%d","source":"oem/idp","type":"auth.login","time":"2026-11-21T08:%02d:%02d Z","tenant":"acme-rentals","data":{"actor":{"ip":"192.0.2.%d","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"},"username_hash":"%016x","result":"success","method":"password"}}`,
				i, i%60, h%60, h%250, h))
		case 2:
			out = append(out, fmt.Appendf(nil, `{"specversion":"1.0","id":"api-%d","source":"oem/gateway","type":"api.access","time":"2026-11-21T08:%02d:%02dZ","subject":%q,"tenant":"acme-rentals","data":{"actor":{"account":"svc-%d","ip":"10.1.%d.%d","role":"service"},"method":"GET","route":"/v2/vehicles/{vin}/location","vehicles":[%q],"status":200,"records":1,"bytes":%d,"fields":["location","vin"]}}`,
				i, i%60, h%60, vin, h%50, h%250, h>>9%250, vin, 300+h%900))
		default:
			out = append(out, fmt.Appendf(nil, `{"specversion":"1.0","id":"tel-%d","source":"oem/connect-gw","type":"vehicle.telemetry","time":"2026-11-21T08:%02d:%02d.%03dZ","subject":%q,"tenant":"acme-rentals","data":{"position":{"lat":%.6f,"lon":%.6f,"heading":%.1f,"accuracy":%.1f},"speed":%.1f,"seq":%d,"signals":{"Vehicle.TraveledDistance":%d,"Vehicle.LowVoltageSystemState":"ON","Vehicle.Cabin.Door.Row1.DriverSide.IsLocked":false,"Vehicle.Powertrain.CombustionEngine.IsRunning":true},"device":{"imei":"86%013d","iccid":"8901260%012d","ip":"100.64.%d.%d","firmware":"7.%d.0"},"cell":{"mcc":310,"mnc":260,"lac":%d,"cid":%d,"dbm":-%d}}}`,
				i, i%60, h%60, h%1000, vin, 30+float64(h%15_000_000)/1e6, -120+float64(h>>24%25_000_000)/1e6, float64(h>>8%3600)/10,
				2+float64(h>>16%80)/10, float64(h>>40%1600)/10, h>>12%100_000, h>>20%90_000_000, h%1e13, h>>7%1e12, h>>30%250, h>>40%250, i%4,
				h>>10%65_000, h>>14%9_000_000, 50+h%60))
		}
	}
	return out
}

// TestRatio: held-out events pack to half their size or less, though their
// numbers are drawn at random (a fleet's repeat more: the simulator's pack
// to about a third, docs/performance.md).
func TestRatio(t *testing.T) {
	total, packed := 0, 0
	for _, raw := range heldOut() {
		b := Pack(nil, raw)
		if got, err := Unpack(b, 1<<20); err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("Unpack(Pack(%s)) = %q, %v", raw, got, err)
		}
		total += len(raw)
		packed += len(b)
	}
	t.Logf("%d bytes packed to %d (%.2f times smaller)", total, packed, float64(total)/float64(packed))
	if total < 2*packed {
		t.Errorf("held-out events packed from %d to %d bytes: want at least 2 times smaller", total, packed)
	}
}

func TestPackAppends(t *testing.T) {
	prefix := []byte("kept")
	b := Pack(append([]byte(nil), prefix...), []byte(event))
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("Pack lost what dst held: %q", b[:8])
	}
	if got, err := Unpack(b[len(prefix):], 1<<20); err != nil || string(got) != event {
		t.Fatalf("Unpack after a prefix = %q, %v", got, err)
	}
	small := Pack(append([]byte(nil), prefix...), []byte("{}"))
	if string(small) != "kept{}" {
		t.Fatalf("a value packing cannot shrink is appended plain: got %q", small)
	}
}

func TestUnpackPlainIsACopy(t *testing.T) {
	raw := []byte(`{"a":1}`)
	got, err := Unpack(raw, 1<<20)
	if err != nil || string(got) != `{"a":1}` {
		t.Fatalf("Unpack(plain) = %q, %v", got, err)
	}
	raw[2] = 'b'
	if string(got) != `{"a":1}` {
		t.Fatal("Unpack of a plain value shares the caller's memory (drivers reuse theirs)")
	}
}

func TestUnpackRefusesBadValues(t *testing.T) {
	good := Pack(nil, []byte(event))
	for _, c := range []struct {
		name  string
		b     []byte
		limit int
		want  string
	}{
		{"marker alone", []byte{0}, 1 << 20, "no dictionary number"},
		{"unknown dictionary", append([]byte{0, 9}, good[2:]...), 1 << 20, "dictionary 9, which this version of vigil does not have"},
		{"dictionary 0", append([]byte{0, 0}, good[2:]...), 1 << 20, "dictionary 0"},
		{"no checksum", []byte{0, 1, 2}, 1 << 20, "no checksum"},
		{"no block", []byte{0, 1, 2, 3, 4, 5}, 1 << 20, "corrupt"},
		{"truncated", good[:len(good)/2], 1 << 20, "corrupt"},
		{"over the limit", good, len(event) - 1, "more than"},
		{"a bomb", []byte{0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, 1 << 20, "more than"},
	} {
		_, err := Unpack(c.b, c.limit)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Unpack = %v, want ErrCorrupt saying %q", c.name, err, c.want)
		}
	}
	// S2 alone would decode some damage to other JSON; the checksum refuses it.
	for i := header; i < len(good); i++ {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		if got, err := Unpack(bad, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d changed: Unpack = %q, %v; want ErrCorrupt", i, got, err)
		}
	}
}

// TestDictionaryIsFrozen: archives hold rows packed with dictionary 1; a
// change to it, or to how S2 decodes against it, would make them unreadable.
func TestDictionaryIsFrozen(t *testing.T) {
	sum := sha256.Sum256(dictionary1)
	if got := hex.EncodeToString(sum[:]); got != "95b6f6366219bfd5b560eb98529cd577d3e374c85b1e8da4d94c7285e39c8fc1" {
		t.Fatalf("dictionary1.ndjson changed (SHA-256 %s): dictionaries are frozen; add a new one under a new number", got)
	}
	// event, as Pack wrote it when dictionary 1 was made.
	golden, _ := hex.DecodeString("00015f36af9ba9021500132067772d3030303031372e6502346f656d2f636f6e6e6563742d6777a66b021c31312d3231543038090036680240314847434d3832363333413030343335322e68020c61636d656e65025833372e373734392c226c6f6e223a2d3132322e3431393459550c31332e3952500221d215001b18747275657d7d7d")
	got, err := Unpack(golden, 1<<20)
	if err != nil || string(got) != event {
		t.Fatalf("a value packed with dictionary 1 unpacks to %q, %v", got, err)
	}
}

func BenchmarkPack(b *testing.B) {
	raw := []byte(event)
	buf := make([]byte, 0, MaxPackedLen(len(raw)))
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		buf = Pack(buf[:0], raw)
	}
	b.ReportMetric(float64(len(raw))/float64(len(buf)), "ratio")
}

func BenchmarkUnpack(b *testing.B) {
	raw := []byte(event)
	packed := Pack(nil, raw)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Unpack(packed, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
