package pseudo

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/engine"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-only")

func newTest(t testing.TB, o Options) *Pseudonymiser {
	t.Helper()
	if o.Secret == nil {
		o.Secret = testSecret
	}
	if o.Default == (Settings{}) && o.Tenants == nil {
		o.Default = Settings{Fields: AllFields}
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustPseudonym(t testing.TB, p *Pseudonymiser, tenant string, k Kind, v string) string {
	t.Helper()
	s, _, err := p.Pseudonym(tenant, k, v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestShapes(t *testing.T) {
	p := newTest(t, Options{})
	tests := []struct {
		kind  Kind
		value string
		ok    func(string) bool
		want  Kind // KindOf of the pseudonym
	}{
		{Vehicle, "WVWZZZ1JZXW000001", ValidVIN, Vehicle},
		{Vehicle, "veh-42", ValidVIN, Vehicle}, // a TSP id becomes VIN-shaped too
		{Account, "acc-1042", func(s string) bool { return strings.HasPrefix(s, "acct_") && len(s) == 31 }, Account},
		{Account, "jane@example.com", func(s string) bool { return strings.HasSuffix(s, "@pseudo.invalid") && isEmail(s) }, Email},
		{Email, "not-an-address", func(s string) bool { return strings.HasPrefix(s, "acct_") }, Account},
		{Phone, "+4917200000006", func(s string) bool { return len(s) == 20 && s[0] == '+' && digits(s[1:]) }, Phone},
		{Device, "dev-9", func(s string) bool { return strings.HasPrefix(s, "dev_") }, Device},
		{Client, "partner-a", func(s string) bool { return strings.HasPrefix(s, "client_") }, Client},
		{Unit, "356938035643809", func(s string) bool { return strings.HasPrefix(s, "unit_") }, Unit},
		{IP, "203.0.113.7", func(s string) bool { a, err := netip.ParseAddr(s); return err == nil && a.Is4() }, IP},
		{IP, "2001:db8::7", func(s string) bool { a, err := netip.ParseAddr(s); return err == nil && a.Is6() && !a.Is4In6() }, IP},
		{IP, "::ffff:203.0.113.7", func(s string) bool { a, err := netip.ParseAddr(s); return err == nil && a.Is4In6() }, IP},
		{IP, "fe80::1%eth0", func(s string) bool { a, err := netip.ParseAddr(s); return err == nil && a.Zone() == "" }, IP},
		{IP, "not an ip", func(s string) bool { return strings.HasPrefix(s, "ip_") }, IP},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String()+" "+tt.value, func(t *testing.T) {
			got := mustPseudonym(t, p, "fleet-a", tt.kind, tt.value)
			if !tt.ok(got) {
				t.Errorf("pseudonym %q has the wrong shape", got)
			}
			if got == tt.value {
				t.Errorf("pseudonym equals the value")
			}
			if again := mustPseudonym(t, newTest(t, Options{}), "fleet-a", tt.kind, tt.value); again != got {
				t.Errorf("not deterministic: %q then %q", got, again)
			}
			if other := mustPseudonym(t, p, "fleet-b", tt.kind, tt.value); other == got {
				t.Errorf("two tenants share the pseudonym %q", got)
			}
			if k, ok := KindOf(got); !ok || k != tt.want {
				t.Errorf("KindOf(%q) = %v %v, want %v", got, k, ok, tt.want)
			}
		})
	}
	// Equal strings of two kinds do not link.
	if a, d := mustPseudonym(t, p, "t", Account, "x-1"), mustPseudonym(t, p, "t", Device, "x-1"); a[5:] == d[4:] {
		t.Errorf("account and device pseudonyms of one string share their token")
	}
	// Another key, other pseudonyms.
	q := newTest(t, Options{Secret: []byte(strings.Repeat("k", 32))})
	if mustPseudonym(t, p, "t", Vehicle, "WVWZZZ1JZXW000001") == mustPseudonym(t, q, "t", Vehicle, "WVWZZZ1JZXW000001") {
		t.Error("two keys give the same pseudonym")
	}
}

func TestValidVIN(t *testing.T) {
	for v, want := range map[string]bool{
		"1M8GDM9AXKP042788": true, // the textbook example
		"1M8GDM9A1KP042788": false,
		"1M8GDM9AXKP04278":  false,
		"1M8GDM9AXKP04278I": false,
	} {
		if ValidVIN(v) != want {
			t.Errorf("ValidVIN(%s) = %v", v, !want)
		}
	}
}

func TestPermuteOctetIsAPermutation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		var key [32]byte
		for i := range key {
			key[i] = byte(r.Uint32())
		}
		var seen [256]bool
		for x := 0; x < 256; x++ {
			y := permuteOctet(byte(x), &key)
			if seen[y] {
				t.Fatalf("octet %d maps onto %d twice", x, y)
			}
			seen[y] = true
		}
	}
}

// TestIPPrefixPreserving: addresses that share a /8, /16, /24 (or /48)
// keep sharing it, addresses that differ keep differing, so the stuffing
// detector's subnets group the same addresses after pseudonymisation.
func TestIPPrefixPreserving(t *testing.T) {
	p := newTest(t, Options{})
	r := rand.New(rand.NewPCG(3, 4))
	subnetOf := map[string]string{} // pseudonymised subnet → clear subnet
	for range 3000 {
		a := netip.AddrFrom4([4]byte{byte(r.IntN(3)), byte(r.IntN(3)), byte(r.IntN(4)), byte(r.Uint32())})
		b := a.As4()
		switch r.IntN(3) {
		case 0:
			b[3] = byte(r.Uint32())
		case 1:
			b[2], b[3] = byte(r.IntN(4)), byte(r.Uint32())
		default:
			b[0] = byte(r.IntN(3))
		}
		x, y := a.String(), netip.AddrFrom4(b).String()
		px, py := mustPseudonym(t, p, "t", IP, x), mustPseudonym(t, p, "t", IP, y)
		for n := 1; n <= 4; n++ {
			same := sharePrefix(x, y, n*8)
			if sharePrefix(px, py, n*8) != same {
				t.Fatalf("%s and %s share their /%d: %v; their pseudonyms %s and %s: %v", x, y, n*8, same, px, py, !same)
			}
		}
		if (px == py) != (x == y) {
			t.Fatalf("%s and %s map to %s and %s", x, y, px, py)
		}
		sx, spx := engine.Subnet(x), engine.Subnet(px)
		if prev, ok := subnetOf[spx]; ok && prev != sx {
			t.Fatalf("subnets %s and %s both map to %s", prev, sx, spx)
		}
		subnetOf[spx] = sx
	}
	// IPv6: the /48 is kept.
	a, b := "2001:db8:1234:1::1", "2001:db8:1234:ffff::2"
	pa, pb := mustPseudonym(t, p, "t", IP, a), mustPseudonym(t, p, "t", IP, b)
	if engine.Subnet(pa) != engine.Subnet(pb) || engine.Subnet(pa) == engine.Subnet(a) {
		t.Errorf("IPv6 /48: %s %s → %s %s", a, b, pa, pb)
	}
	// A /24 maps onto a /24, one to one.
	seen := map[string]bool{}
	for i := range 256 {
		ps := mustPseudonym(t, p, "t", IP, fmt.Sprintf("198.51.100.%d", i))
		seen[engine.Subnet(ps)+" "+ps] = true
	}
	if len(seen) != 256 {
		t.Errorf("198.51.100.0/24 maps onto %d addresses", len(seen))
	}
	var subnets = map[string]bool{}
	for k := range seen {
		subnets[strings.Fields(k)[0]] = true
	}
	if len(subnets) != 1 {
		t.Errorf("198.51.100.0/24 maps onto %d subnets", len(subnets))
	}
}

func sharePrefix(a, b string, bits int) bool {
	x, y := netip.MustParseAddr(a).Unmap(), netip.MustParseAddr(b).Unmap()
	px, _ := x.Prefix(bits)
	py, _ := y.Prefix(bits)
	return px == py
}

func TestPrefix(t *testing.T) {
	p := newTest(t, Options{})
	q, err := p.Prefix("t", netip.MustParsePrefix("10.20.0.0/16"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"10.20.0.1", "10.20.255.254", "10.20.7.7"} {
		if ps := mustPseudonym(t, p, "t", IP, a); !q.Contains(netip.MustParseAddr(ps)) {
			t.Errorf("%s → %s, outside %s", a, ps, q)
		}
	}
	if ps := mustPseudonym(t, p, "t", IP, "10.21.0.1"); q.Contains(netip.MustParseAddr(ps)) {
		t.Errorf("10.21.0.1 → %s, inside %s", ps, q)
	}
	if _, err := p.Prefix("t", netip.MustParsePrefix("10.0.0.0/12")); err == nil {
		t.Error("a /12 was accepted: its pseudonyms do not form one prefix")
	}
}

// FuzzIP: any string is pseudonymised without a panic; an address keeps
// its family, anything else becomes a token.
func FuzzIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "::1", "::ffff:1.2.3.4", "fe80::1%eth0", "1.2.3", "", "1.2.3.4/24", "[::1]"} {
		f.Add(s)
	}
	p := newTest(f, Options{})
	f.Fuzz(func(t *testing.T, s string) {
		ps := mustPseudonym(t, p, "t", IP, s)
		a, err := netip.ParseAddr(s)
		if err != nil {
			if !strings.HasPrefix(ps, "ip_") {
				t.Fatalf("%q → %q", s, ps)
			}
			return
		}
		b, err := netip.ParseAddr(ps)
		if err != nil || a.Is4() != b.Is4() || a.Is4In6() != b.Is4In6() {
			t.Fatalf("%q → %q", s, ps)
		}
	})
}
