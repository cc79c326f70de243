package sim

import (
	"math/rand/v2"
	"strconv"
)

// vinLine is a production line: VINs of one line share their first eleven
// characters and count their serial up, as carmakers assign them.
const vinLineSize = 50_000

var (
	wmis   = [...]string{"WVW", "WBA", "VF1", "ZFA", "WDD", "VSS", "TMB", "WAU"}
	models = [...]string{"ZZZ1K", "8C51F", "RFB4A", "3120G", "2050A", "ZZZ5F", "ZZZ3V", "ZZZ8Y"}
	plants = "ABCDEFGHJKLMNPRS"
	years  = "RST" // model years 2024, 2025, 2026
)

// vinPrefix is the first eleven characters of a VIN of line l and model-year
// index y, with a placeholder check digit at position 9.
func vinPrefix(l, y int) []byte {
	b := make([]byte, 0, 17)
	b = append(b, wmis[l%len(wmis)]...)
	b = append(b, models[l%len(models)]...)
	b = append(b, '0', years[y%len(years)], plants[(l/len(wmis))%len(plants)])
	return b
}

// makeVIN completes a prefix with a six-digit serial and the ISO 3779 check digit.
func makeVIN(prefix []byte, serial int) string {
	b := append(prefix[:11:11], '0', '0', '0', '0', '0', '0')
	for i := 16; i >= 11; i-- {
		b[i] = byte('0' + serial%10)
		serial /= 10
	}
	b[8] = vinCheck(b)
	return string(b)
}

func vinCheck(b []byte) byte {
	const weights = "\x08\x07\x06\x05\x04\x03\x02\x0a\x00\x09\x08\x07\x06\x05\x04\x03\x02"
	sum := 0
	for i, c := range b {
		sum += vinValue(c) * int(weights[i])
	}
	if r := sum % 11; r < 10 {
		return byte('0' + r)
	}
	return 'X'
}

func vinValue(c byte) int {
	if c >= '0' && c <= '9' {
		return int(c - '0')
	}
	// Transliteration of ISO 3779: A–H 1–8, J–R 1–9 (no O, Q), S–Z 2–9.
	const letters = "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x02\x03\x04\x05\x00\x07\x00\x09\x02\x03\x04\x05\x06\x07\x08\x09"
	if c >= 'A' && c <= 'Z' {
		return int(letters[c-'A'])
	}
	return 0
}

// luhn appends the Luhn check digit to a string of digits.
func luhn(digits []byte) []byte {
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return append(digits, byte('0'+(10-sum%10)%10))
}

// imei is a 15-digit IMEI: a type allocation code, a serial and a check digit.
func imei(i int) string {
	tacs := [...]string{"35693803", "86723104", "35332511"}
	b := append([]byte(tacs[(i/1_000_000)%len(tacs)]), zeroPad(i%1_000_000, 6)...)
	return string(luhn(b))
}

// iccid is a 19-digit SIM serial: 89 (telecom), 49 (issuer country), issuer
// 22, a 12-digit account and a check digit.
func iccid(i int) string {
	b := append([]byte("894922"), zeroPad(i, 12)...)
	return string(luhn(b))
}

// msisdn is the vehicle SIM's phone number (a German M2M range).
func msisdn(i int) string { return "+49172" + string(zeroPad(i, 8)) }

// gatewayMSISDNs are the numbers the TSP's SMS gateway sends from.
var gatewayMSISDNs = [...]string{"+4915550001000", "+4915550001001", "+4915550001002"}

func zeroPad(n, width int) []byte {
	b := strconv.AppendInt(nil, int64(n), 10)
	for len(b) < width {
		b = append([]byte{'0'}, b...)
	}
	return b
}

// hostIP is a public address in network net.x.y.z, unique for each i below
// 254·65536.
func hostIP(net byte, i int) string {
	b := strconv.AppendUint(nil, uint64(net), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64((i/254/256)%256), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64((i/254)%256), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(1+i%254), 10)
	return string(b)
}

// hexID is a prefix followed by n random hex digits.
func hexID(r *rand.Rand, prefix string, n int) string {
	const hex = "0123456789abcdef"
	b := append(make([]byte, 0, len(prefix)+n), prefix...)
	for range n {
		b = append(b, hex[r.IntN(16)])
	}
	return string(b)
}
