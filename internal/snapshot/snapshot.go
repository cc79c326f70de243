// Package snapshot is the binary encoding of vigil's state snapshots: the
// engine's shards and router, the alert manager, the processor's
// checkpoint. A snapshot is a header (magic, format version, body length,
// CRC-32C of the body) and a body of varints, fixed-width numbers and
// strings written by hand, field by field, by the package that owns the
// state. No reflection: the hot structures stay private and the format
// stays compact and versioned.
//
// Decoding never panics: every length is checked against what is left of
// the input before anything is allocated, and the first problem is kept as
// an error that says what was wrong and where.
package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// Errors a snapshot can fail with; the errors returned wrap one of them.
var (
	// ErrCorrupt: the bytes are not a snapshot, are cut short or do not
	// decode (a failed checksum included).
	ErrCorrupt = errors.New("snapshot corrupt")
	// ErrVersion: a format version this vigil does not read.
	ErrVersion = errors.New("snapshot format version not supported")
	// ErrIncompatible: a valid snapshot of another configuration (detectors,
	// rules, engine settings) than the one it is restored into.
	ErrIncompatible = errors.New("snapshot incompatible")
)

// HeaderLen is the size of the header before the body.
const HeaderLen = 20

// MaxBody bounds a body: far beyond any fleet, small enough that a corrupt
// length cannot make a reader allocate without end.
const MaxBody = 16 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Magic names what a snapshot holds (engine, alert manager, checkpoint).
type Magic [4]byte

// Write writes a header and the body made of parts (their concatenation),
// without copying them.
func Write(w io.Writer, m Magic, version uint16, parts ...[]byte) error {
	var n uint64
	var sum uint32
	for _, p := range parts {
		n += uint64(len(p))
		sum = crc32.Update(sum, castagnoli, p)
	}
	var h [HeaderLen]byte
	copy(h[:4], m[:])
	binary.BigEndian.PutUint16(h[4:], version)
	binary.BigEndian.PutUint64(h[8:], n)
	binary.BigEndian.PutUint32(h[16:], sum)
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// Seal writes the header of the snapshot in buf, whose first HeaderLen
// bytes are reserved for it and whose body follows: a snapshot made of
// snapshots written into one buffer, without copying them.
func Seal(buf []byte, m Magic, version uint16) {
	body := buf[HeaderLen:]
	h := buf[:HeaderLen]
	copy(h[:4], m[:])
	binary.BigEndian.PutUint16(h[4:], version)
	h[6], h[7] = 0, 0
	binary.BigEndian.PutUint64(h[8:], uint64(len(body)))
	binary.BigEndian.PutUint32(h[16:], crc32.Checksum(body, castagnoli))
}

// Split returns the snapshot at the start of b (header and body, not
// checked beyond its length) and what follows it.
func Split(b []byte) (first, rest []byte, err error) {
	if len(b) < HeaderLen {
		return nil, nil, fmt.Errorf("%w: %d bytes, less than a header", ErrCorrupt, len(b))
	}
	n := binary.BigEndian.Uint64(b[8:])
	if n > uint64(len(b)-HeaderLen) {
		return nil, nil, fmt.Errorf("%w: a %q snapshot of %d bytes, %d left", ErrCorrupt, b[:4], n, len(b)-HeaderLen)
	}
	end := HeaderLen + int(n)
	return b[:end], b[end:], nil
}

// Read reads one snapshot of kind m from r and returns its version and
// body, once the checksum holds. Versions above max are ErrVersion.
func Read(r io.Reader, m Magic, max uint16) (uint16, []byte, error) {
	var h [HeaderLen]byte
	if n, err := io.ReadFull(r, h[:]); err != nil {
		if n == 0 && err == io.EOF {
			return 0, nil, fmt.Errorf("%w: empty input, no header", ErrCorrupt)
		}
		return 0, nil, fmt.Errorf("%w: the header is cut short after %d of %d bytes", ErrCorrupt, n, HeaderLen)
	}
	if [4]byte(h[:4]) != m {
		return 0, nil, fmt.Errorf("%w: magic %q, want %q: not a %s snapshot", ErrCorrupt, h[:4], m[:], m[:])
	}
	v := binary.BigEndian.Uint16(h[4:])
	if v == 0 || v > max {
		return v, nil, fmt.Errorf("%w: %q snapshot of format version %d; this vigil reads versions 1 to %d", ErrVersion, m[:], v, max)
	}
	if h[6] != 0 || h[7] != 0 {
		return v, nil, fmt.Errorf("%w: reserved header bytes are not zero", ErrCorrupt)
	}
	n := binary.BigEndian.Uint64(h[8:])
	if n > MaxBody {
		return v, nil, fmt.Errorf("%w: the header announces %d bytes, more than the limit of %d", ErrCorrupt, n, uint64(MaxBody))
	}
	body, err := readN(r, int(n))
	if err != nil {
		return v, nil, err
	}
	if sum := crc32.Checksum(body, castagnoli); sum != binary.BigEndian.Uint32(h[16:]) {
		return v, nil, fmt.Errorf("%w: checksum %08x of the %d-byte body, the header says %08x", ErrCorrupt, sum, n, binary.BigEndian.Uint32(h[16:]))
	}
	return v, body, nil
}

// readN reads exactly n bytes, doubling the buffer as they come rather
// than trusting n (from a header that may be corrupt) for one allocation.
func readN(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, 1<<20))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), len(buf)))
		}
		k, err := r.Read(buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+k]
		if err != nil && len(buf) < n {
			if err == io.EOF {
				return nil, fmt.Errorf("%w: the body is cut short after %d of %d bytes", ErrCorrupt, len(buf), n)
			}
			return nil, err
		}
	}
	return buf, nil
}
