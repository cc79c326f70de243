package snapshot

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Writer appends encoded values to a buffer. Strings that repeat across
// the state (tenants, sources, firmware versions, accounts) are written
// once through Sym and then by number; the table is the Writer's own.
type Writer struct {
	b    []byte
	syms map[string]uint64
}

// NewWriter returns a Writer appending to buf.
func NewWriter(buf []byte) *Writer { return &Writer{b: buf, syms: map[string]uint64{}} }

// Bytes returns what was written.
func (w *Writer) Bytes() []byte { return w.b }

// Len returns the number of bytes written.
func (w *Writer) Len() int { return len(w.b) }

// Uvarint writes v as an unsigned varint.
func (w *Writer) Uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

// Varint writes v as a zig-zag varint.
func (w *Writer) Varint(v int64) { w.b = binary.AppendVarint(w.b, v) }

// Int writes an int as a varint.
func (w *Writer) Int(v int) { w.Varint(int64(v)) }

// Uint8 writes one byte.
func (w *Writer) Uint8(v uint8) { w.b = append(w.b, v) }

// Bool writes a byte, 0 or 1.
func (w *Writer) Bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// Uint64 writes v in 8 bytes: hashes, whose varint would be longer.
func (w *Writer) Uint64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }

// Float64 writes the exact bits of f.
func (w *Writer) Float64(f float64) { w.Uint64(math.Float64bits(f)) }

// Float32 writes the exact bits of f.
func (w *Writer) Float32(f float32) { w.b = binary.LittleEndian.AppendUint32(w.b, math.Float32bits(f)) }

// Str writes a length and the bytes of s.
func (w *Writer) Str(s string) {
	w.Uvarint(uint64(len(s)))
	w.b = append(w.b, s...)
}

// Raw writes a length and the bytes of b.
func (w *Writer) Raw(b []byte) {
	w.Uvarint(uint64(len(b)))
	w.b = append(w.b, b...)
}

// Sym writes a string that is likely to repeat: 0 is "", 1 a new symbol
// that follows, n+2 the symbol numbered n.
func (w *Writer) Sym(s string) {
	if s == "" {
		w.Uvarint(0)
		return
	}
	if n, ok := w.syms[s]; ok {
		w.Uvarint(n + 2)
		return
	}
	w.syms[s] = uint64(len(w.syms))
	w.Uvarint(1)
	w.Str(s)
}

// Section writes what f writes behind its length, so a reader can check
// that f's reader consumed exactly its part, and name it when not.
func (w *Writer) Section(f func(*Writer) error) error {
	at := len(w.b)
	w.b = append(w.b, 0, 0, 0, 0)
	if err := f(w); err != nil {
		return err
	}
	n := len(w.b) - at - 4
	if n > math.MaxUint32 {
		return fmt.Errorf("snapshot: a section of %d bytes is over the 4 GiB limit", n)
	}
	binary.LittleEndian.PutUint32(w.b[at:], uint32(n))
	return nil
}

// Reader decodes what a Writer wrote. Its first error sticks: later reads
// return zero values, and Err reports it. Callers check Err (or the error
// of Section) once a part is read, and report invalid values with Fail.
type Reader struct {
	b    []byte
	off  int
	end  int
	syms []string
	err  error
}

// NewReader returns a Reader of b.
func NewReader(b []byte) *Reader { return &Reader{b: b, end: len(b)} }

// Err returns the first error, nil when none.
func (r *Reader) Err() error { return r.err }

// Offset is the position of the next byte to read.
func (r *Reader) Offset() int { return r.off }

// Left is the number of bytes left in the current section.
func (r *Reader) Left() int { return r.end - r.off }

// Fail records a problem found in the decoded values (unless an earlier
// one was): it is reported as ErrCorrupt at the current offset.
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w at byte %d: %s", ErrCorrupt, r.off, fmt.Sprintf(format, args...))
	}
}

// Failed reports whether an error was recorded.
func (r *Reader) Failed() bool { return r.err != nil }

func (r *Reader) short(what string, n int) {
	r.Fail("%s needs %d bytes, %d left", what, n, r.end-r.off)
	r.off = r.end
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:r.end])
	if n <= 0 {
		r.Fail("a varint is cut short or overflows")
		r.off = r.end
		return 0
	}
	r.off += n
	return v
}

// Varint reads a zig-zag varint.
func (r *Reader) Varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:r.end])
	if n <= 0 {
		r.Fail("a varint is cut short or overflows")
		r.off = r.end
		return 0
	}
	r.off += n
	return v
}

// Int reads a varint that must fit an int32 (counts, small numbers).
func (r *Reader) Int() int {
	v := r.Varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.Fail("number %d out of range", v)
		return 0
	}
	return int(v)
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 {
	if r.err != nil {
		return 0
	}
	if r.off >= r.end {
		r.short("a byte", 1)
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

// Bool reads a byte that must be 0 or 1.
func (r *Reader) Bool() bool {
	switch r.Uint8() {
	case 0:
		return false
	case 1:
		return true
	}
	r.Fail("a boolean is neither 0 nor 1")
	return false
}

// Uint64 reads 8 bytes.
func (r *Reader) Uint64() uint64 {
	if r.err != nil {
		return 0
	}
	if r.end-r.off < 8 {
		r.short("a 64-bit number", 8)
		return 0
	}
	r.off += 8
	return binary.LittleEndian.Uint64(r.b[r.off-8:])
}

// Float64 reads 8 bytes of a float64.
func (r *Reader) Float64() float64 { return math.Float64frombits(r.Uint64()) }

// Float32 reads 4 bytes of a float32.
func (r *Reader) Float32() float32 {
	if r.err != nil {
		return 0
	}
	if r.end-r.off < 4 {
		r.short("a 32-bit number", 4)
		return 0
	}
	r.off += 4
	return math.Float32frombits(binary.LittleEndian.Uint32(r.b[r.off-4:]))
}

// bytes returns the next length-prefixed bytes (not copied).
func (r *Reader) bytes() []byte {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(r.end-r.off) {
		r.short("a string", int(min(n, math.MaxInt32)))
		return nil
	}
	r.off += int(n)
	return r.b[r.off-int(n) : r.off]
}

// Str reads a string.
func (r *Reader) Str() string { return string(r.bytes()) }

// Raw reads length-prefixed bytes, copied.
func (r *Reader) Raw() []byte {
	b := r.bytes()
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Part reads length-prefixed bytes without copying them: a part of the
// input to decode with a Reader of its own (Writer.Raw wrote it).
func (r *Reader) Part() []byte { return r.bytes() }

// Sym reads a string written by Writer.Sym; every use of a symbol shares
// one string.
func (r *Reader) Sym() string {
	n := r.Uvarint()
	switch {
	case r.err != nil || n == 0:
		return ""
	case n == 1:
		s := r.Str()
		if s == "" {
			r.Fail("a new symbol is empty")
		}
		r.syms = append(r.syms, s)
		return s
	case n-2 < uint64(len(r.syms)):
		return r.syms[n-2]
	}
	r.Fail("symbol %d is not defined (%d so far)", n-2, len(r.syms))
	return ""
}

// Count reads a number of items that each take at least size bytes (at
// least 1), and fails unless what is left can hold them: a corrupt count
// never makes the caller allocate more than the input justifies.
func (r *Reader) Count(size int) int {
	n := r.Uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(r.end-r.off)/uint64(max(size, 1)) {
		r.Fail("%d items of at least %d bytes do not fit in the %d bytes left", n, max(size, 1), r.end-r.off)
		return 0
	}
	return int(n)
}

// Section reads a part written by Writer.Section with f, and fails unless
// f consumed it exactly; what names the part in the error.
func (r *Reader) Section(what string, f func(*Reader) error) error {
	if r.err != nil {
		return r.err
	}
	if r.end-r.off < 4 {
		r.short("the length of "+what, 4)
		return r.err
	}
	n := int(binary.LittleEndian.Uint32(r.b[r.off:]))
	r.off += 4
	if n > r.end-r.off {
		r.Fail("%s announces %d bytes, %d left", what, n, r.end-r.off)
		return r.err
	}
	end := r.end
	r.end = r.off + n
	err := f(r)
	if err == nil {
		err = r.err
	}
	if err == nil && r.off != r.end {
		r.Fail("%s left %d of its %d bytes unread", what, r.end-r.off, n)
		err = r.err
	}
	if err != nil && r.err == nil {
		r.err = err
	}
	r.off, r.end = r.end, end
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// End fails unless every byte was read.
func (r *Reader) End() error {
	if r.err == nil && r.off != r.end {
		r.Fail("%d bytes left over after the end", r.end-r.off)
	}
	return r.err
}
