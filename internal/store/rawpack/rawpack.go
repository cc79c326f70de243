// Package rawpack packs an event's JSON for the archive, and unpacks it.
//
// The archive's rows are mostly the events' JSON, about 570 bytes each, and
// every byte of a row is written twice (the write-ahead log, then the
// database) and pays for the B-tree pages it fills. Events of one type
// repeat the same field names and value shapes, so a block compressed with
// S2 against a dictionary of such events is about a third of the JSON (the
// simulator's events: 574 bytes to 173 on average), and costs about 2.4 µs to
// pack and 0.7 µs to unpack on a slow core (BenchmarkCodecs).
//
// A packed value is the byte 0x00, the number of the dictionary it was
// packed with, the CRC-32C of the JSON (little-endian) and an S2 block. JSON
// never starts with 0x00, so a reader tells a packed value from one stored
// plain (by an earlier version, or because packing would not have made it
// smaller) by its first byte. S2 blocks carry no checksum, and a damaged
// one can decode to other, plausible JSON: the CRC turns that into an
// error, as evidence of an attack must not change unnoticed.
//
// Dictionaries are frozen: rows packed with one are unreadable without it,
// byte for byte. A better dictionary is added under a new number, and the
// old ones stay, for as long as any archive may hold rows packed with them.
// Dictionary 1 is dictionary1.ndjson: the ingest contract's valid examples
// (spec/examples/valid.ndjson) and one or more events of each type shaped
// like the simulator's, their identities replaced by the examples' (no
// fleet's sources, vehicles or people).
package rawpack

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/klauspost/compress/s2"
)

// marker begins every packed value.
const marker = 0x00

// current is the dictionary new values are packed with.
const current = 1

//go:embed dictionary1.ndjson
var dictionary1 []byte

// dictionary1Repeat is S2's initial repeat offset for dictionary 1: part
// of the dictionary, so fixed here rather than searched for by the library.
const dictionary1Repeat = 0

var dicts = [...]*s2.Dict{
	1: s2.MakeDictManual(dictionary1, dictionary1Repeat),
}

func init() {
	for n, d := range dicts[1:] {
		if d == nil {
			panic(fmt.Sprintf("rawpack: dictionary %d is not a valid S2 dictionary (at most 64 KiB)", n+1))
		}
	}
}

// header is the marker, the dictionary number and the CRC.
const header = 2 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is returned for a packed value that does not unpack.
var ErrCorrupt = errors.New("corrupt packed event")

// Pack appends the packed form of raw to dst, or raw itself when packing
// would not make it smaller (unless raw begins like a packed value).
func Pack(dst, raw []byte) []byte {
	start := len(dst)
	dst = slices.Grow(dst, MaxPackedLen(len(raw)))
	dst = append(dst, marker, current)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(raw, castagnoli))
	// With room for the largest block, Encode writes in place; a library
	// that allocated instead is still right, only slower.
	room := dst[len(dst):cap(dst)]
	block := dicts[current].Encode(room, raw)
	if header+len(block) >= len(raw) && !Packed(raw) {
		return append(dst[:start], raw...)
	}
	if len(block) > 0 && &block[0] == &room[0] {
		return dst[:len(dst)+len(block)]
	}
	return append(dst, block...)
}

// MaxPackedLen is the most Pack can append for raw of n bytes.
func MaxPackedLen(n int) int { return max(n, header+s2.MaxEncodedLen(n)) }

// Packed reports whether b is a packed value.
func Packed(b []byte) bool { return len(b) > 0 && b[0] == marker }

// Unpack returns the JSON of a stored value: a copy of b when it is plain,
// else its unpacked form, which may be at most limit bytes. The result
// never shares memory with b (drivers reuse theirs).
func Unpack(b []byte, limit int) ([]byte, error) {
	if !Packed(b) {
		return append([]byte(nil), b...), nil
	}
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes, no dictionary number", ErrCorrupt, len(b))
	}
	n := int(b[1])
	if n <= 0 || n >= len(dicts) || dicts[n] == nil {
		return nil, fmt.Errorf("%w: packed with dictionary %d, which this version of vigil does not have (packed by a newer one?)", ErrCorrupt, n)
	}
	if len(b) < header {
		return nil, fmt.Errorf("%w: %d bytes, no checksum", ErrCorrupt, len(b))
	}
	sum, block := binary.LittleEndian.Uint32(b[2:header]), b[header:]
	size, err := s2.DecodedLen(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if size > limit {
		return nil, fmt.Errorf("%w: unpacks to %d bytes, more than %d", ErrCorrupt, size, limit)
	}
	out, err := dicts[n].Decode(make([]byte, size), block)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if crc32.Checksum(out, castagnoli) != sum {
		return nil, fmt.Errorf("%w: the unpacked JSON does not match its checksum", ErrCorrupt)
	}
	return out, nil
}
