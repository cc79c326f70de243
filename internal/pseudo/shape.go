package pseudo

import (
	"encoding/base32"
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Pseudonyms keep the shape of what they replace, so the ingest contract,
// the store's limits and the detectors that look at shape (the /24 of an
// IP, a VIN's characters) keep working:
//
//	vehicle  17 characters of the VIN alphabet with a valid check digit
//	ip       an address of the same family, prefix-preserving per octet
//	email    <26 base32 characters>@pseudo.invalid
//	phone    + and 19 digits: longer than any E.164 number, so it never
//	         reaches a real phone
//	account  acct_<26 base32>, device dev_…, client client_…, unit unit_…
//
// Tokens carry 128 bits of the HMAC, VINs about 80, phones about 63.

var token = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const tokenLen = 26 // base32 of 16 bytes

var prefixes = [NumKinds]string{Account: "acct_", Device: "dev_", Client: "client_", Unit: "unit_", IP: "ip_"}

const emailDomain = "@pseudo.invalid"

// shape turns the HMAC of a value into the pseudonym of kind k (IP
// addresses that parse take the prefix-preserving path instead).
func shape(k Kind, sum *[32]byte) string {
	switch k {
	case Vehicle:
		return vin(sum)
	case Email:
		var b [tokenLen + len(emailDomain)]byte
		token.Encode(b[:tokenLen], sum[:16])
		copy(b[tokenLen:], emailDomain)
		return string(b[:])
	case Phone:
		var b [20]byte
		b[0] = '+'
		n := binary.BigEndian.Uint64(sum[:8]) % 1e19
		for i := 19; i >= 1; i-- {
			b[i] = byte('0' + n%10)
			n /= 10
		}
		return string(b[:])
	}
	p := prefixes[k]
	b := make([]byte, len(p)+tokenLen)
	copy(b, p)
	token.Encode(b[len(p):], sum[:16])
	return string(b)
}

const vinAlphabet = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ" // no I, O, Q

// vinValue and vinWeight are the check digit's transliteration and weights
// (ISO 3779 as used in North America).
var vinWeight = [17]int{8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2}

func vinValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'H':
		return int(c-'A') + 1
	case c >= 'J' && c <= 'N':
		return int(c-'J') + 1
	case c == 'P':
		return 7
	case c == 'R':
		return 9
	case c >= 'S' && c <= 'Z':
		return int(c-'S') + 2
	}
	return 0
}

// vin writes 16 base-33 digits of the first 128 bits of sum and the check
// digit in position 9, so VIN validators downstream accept the pseudonym.
func vin(sum *[32]byte) string {
	hi, lo := binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])
	var b [17]byte
	for i := 16; i >= 0; i-- {
		if i == 8 {
			continue
		}
		var r uint64
		hi, r = hi/33, hi%33
		lo, r = bits.Div64(r, lo, 33)
		b[i] = vinAlphabet[r]
	}
	total := 0
	for i, c := range b {
		total += vinValue(c) * vinWeight[i]
	}
	if d := total % 11; d == 10 {
		b[8] = 'X'
	} else {
		b[8] = byte('0' + d)
	}
	return string(b[:])
}

// ValidVIN reports whether v has a VIN's shape and a right check digit.
func ValidVIN(v string) bool {
	if len(v) != 17 {
		return false
	}
	total := 0
	for i := 0; i < 17; i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') || c == 'I' || c == 'O' || c == 'Q' {
			return false
		}
		total += vinValue(c) * vinWeight[i]
	}
	want := byte('X')
	if d := total % 11; d < 10 {
		want = byte('0' + d)
	}
	return v[8] == want
}

// permuteOctet is a keyed permutation of one octet: four Feistel rounds
// on its two nibbles, each round a table of 16 nibbles taken from key.
// Unlike a XOR pad, one known (octet, pseudonym) pair does not give away
// the other 255.
func permuteOctet(x byte, key *[32]byte) byte {
	l, r := x>>4, x&15
	for round := 0; round < 4; round++ {
		t := key[round*8+int(r>>1)]
		f := t & 15
		if r&1 == 1 {
			f = t >> 4
		}
		l, r = r, l^f
	}
	return l<<4 | r
}

// ipPseudonym maps an address prefix-preservingly: output octet i is a
// permutation of input octet i keyed by the HMAC of the octets before it,
// so two addresses that share their first n octets (their /24, their /48)
// share the first n octets of their pseudonyms, and the map is a bijection.
// The zone of a scoped IPv6 address is dropped. ok is false when s is not
// an address.
func (t *tenantKeys) ipPseudonym(s string) (string, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	a = a.WithZone("")
	mapped := a.Is4In6()
	if mapped {
		a = a.Unmap()
	}
	var in, out [16]byte
	n := 4
	if a.Is4() {
		v4 := a.As4()
		copy(in[:], v4[:])
	} else {
		in, n = a.As16(), 16
	}
	m := t.mac()
	defer t.done(m)
	var key [32]byte
	for i := 0; i < n; i++ {
		m.buf = append(m.buf[:0], byte(IP), byte(n), byte(i))
		m.buf = append(m.buf, in[:i]...)
		m.sum(&key)
		out[i] = permuteOctet(in[i], &key)
	}
	var p netip.Addr
	switch {
	case n == 16:
		p = netip.AddrFrom16(out)
	case mapped:
		p = netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: out[0], 13: out[1], 14: out[2], 15: out[3]})
	default:
		p = netip.AddrFrom4([4]byte(out[:4]))
	}
	return p.String(), true
}

// ipPrefix maps a prefix whose length is a multiple of 8 the way every
// address in it is mapped: the pseudonymised network of a CIDR block.
func (t *tenantKeys) ipPrefix(p netip.Prefix) (netip.Prefix, bool) {
	if p.Bits()%8 != 0 {
		return netip.Prefix{}, false
	}
	p = p.Masked()
	a := p.Addr()
	s, ok := t.ipPseudonym(a.String())
	if !ok {
		return netip.Prefix{}, false
	}
	q, err := netip.MustParseAddr(s).Prefix(p.Bits())
	return q, err == nil
}
