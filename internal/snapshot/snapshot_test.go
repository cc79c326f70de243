package snapshot

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

var testMagic = Magic{'T', 'E', 'S', 'T'}

func TestCodecRoundTrip(t *testing.T) {
	w := NewWriter(nil)
	w.Uvarint(math.MaxUint64)
	w.Varint(math.MinInt64)
	w.Int(-7)
	w.Uint8(200)
	w.Bool(true)
	w.Uint64(0xdeadbeef)
	w.Float64(-0.1)
	w.Float32(3.5)
	w.Str("plain")
	w.Raw([]byte{1, 2, 3})
	for _, s := range []string{"fleet-a", "", "fleet-b", "fleet-a", "fleet-b"} {
		w.Sym(s)
	}
	if err := w.Section(func(w *Writer) error { w.Sym("fleet-a"); w.Str("inner"); return nil }); err != nil {
		t.Fatal(err)
	}
	r := NewReader(w.Bytes())
	got := []any{r.Uvarint(), r.Varint(), r.Int(), r.Uint8(), r.Bool(), r.Uint64(), r.Float64(), r.Float32(), r.Str(), string(r.Raw()),
		r.Sym(), r.Sym(), r.Sym(), r.Sym(), r.Sym()}
	var inner []string
	if err := r.Section("inner part", func(r *Reader) error { inner = []string{r.Sym(), r.Str()}; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	want := []any{uint64(math.MaxUint64), int64(math.MinInt64), -7, uint8(200), true, uint64(0xdeadbeef), -0.1, float32(3.5), "plain", "\x01\x02\x03",
		"fleet-a", "", "fleet-b", "fleet-a", "fleet-b"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d: %v, want %v", i, got[i], want[i])
		}
	}
	if strings.Join(inner, ",") != "fleet-a,inner" {
		t.Errorf("section: %q", inner)
	}
}

func TestReaderRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		read func(*Reader)
		says string
	}{
		{"cut varint", []byte{0x80}, func(r *Reader) { r.Uvarint() }, "varint"},
		{"cut number", []byte{1, 2, 3}, func(r *Reader) { r.Uint64() }, "needs 8 bytes"},
		{"long string", []byte{10, 'a'}, func(r *Reader) { r.Str() }, "string"},
		{"not a boolean", []byte{2}, func(r *Reader) { r.Bool() }, "neither 0 nor 1"},
		{"unknown symbol", []byte{5}, func(r *Reader) { r.Sym() }, "symbol 3 is not defined"},
		{"count beyond the input", []byte{100, 0, 0}, func(r *Reader) { r.Count(1) }, "100 items"},
		{"section too long", []byte{9, 0, 0, 0, 1}, func(r *Reader) { r.Section("part", func(*Reader) error { return nil }) }, "part announces 9 bytes"},
		{"section not read to its end", []byte{2, 0, 0, 0, 1, 1}, func(r *Reader) {
			r.Section("part", func(r *Reader) error { r.Uint8(); return nil })
		}, "part left 1 of its 2 bytes unread"},
		{"left over", []byte{1, 1}, func(r *Reader) { r.Uint8(); r.End() }, "1 bytes left over"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(c.in)
			c.read(r)
			if err := r.Err(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want ErrCorrupt saying %q", err, c.says)
			}
			// Later reads return zero values, never panic.
			if r.Uvarint() != 0 || r.Str() != "" || r.Count(1) != 0 || r.Part() != nil {
				t.Error("a read after an error returned something")
			}
		})
	}
}

func TestHeader(t *testing.T) {
	var good bytes.Buffer
	if err := Write(&good, testMagic, 2, []byte("body "), []byte("parts")); err != nil {
		t.Fatal(err)
	}
	v, body, err := Read(bytes.NewReader(good.Bytes()), testMagic, 2)
	if err != nil || v != 2 || string(body) != "body parts" {
		t.Fatalf("Read: %d %q %v", v, body, err)
	}
	sealed := append(make([]byte, HeaderLen), "body parts"...)
	Seal(sealed, testMagic, 2)
	if !bytes.Equal(sealed, good.Bytes()) {
		t.Error("Seal and Write disagree")
	}
	first, rest, err := Split(append(sealed, "next"...))
	if err != nil || !bytes.Equal(first, sealed) || string(rest) != "next" {
		t.Errorf("Split: %q %q %v", first, rest, err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good.Bytes())) }
	for _, c := range []struct {
		name string
		in   []byte
		want error
		says string
	}{
		{"empty", nil, ErrCorrupt, "empty input"},
		{"short header", good.Bytes()[:10], ErrCorrupt, "header is cut short after 10"},
		{"other magic", mod(func(b []byte) []byte { b[0] = 'X'; return b }), ErrCorrupt, "magic"},
		{"version 0", mod(func(b []byte) []byte { b[5] = 0; return b }), ErrVersion, "version 0"},
		{"newer version", mod(func(b []byte) []byte { b[5] = 3; return b }), ErrVersion, "reads versions 1 to 2"},
		{"reserved", mod(func(b []byte) []byte { b[7] = 1; return b }), ErrCorrupt, "reserved"},
		{"huge length", mod(func(b []byte) []byte { b[8] = 0x7f; return b }), ErrCorrupt, "more than the limit"},
		{"cut body", good.Bytes()[:len(good.Bytes())-1], ErrCorrupt, "cut short after 9 of 10"},
		{"flipped body bit", mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorrupt, "checksum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Read(bytes.NewReader(c.in), testMagic, 2)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want %v saying %q", err, c.want, c.says)
			}
		})
	}
}

// FuzzReader: any bytes, read as any sequence of values, give values or an
// error, never a panic or an allocation beyond the input.
func FuzzReader(f *testing.F) {
	w := NewWriter(nil)
	w.Uvarint(3)
	w.Sym("a")
	w.Sym("a")
	w.Section(func(w *Writer) error { w.Str("x"); return nil })
	f.Add(w.Bytes(), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, in, ops []byte) {
		r := NewReader(in)
		var run func(r *Reader, ops []byte)
		run = func(r *Reader, ops []byte) {
			for i, op := range ops {
				switch op % 12 {
				case 0:
					r.Uvarint()
				case 1:
					r.Varint()
				case 2:
					r.Int()
				case 3:
					r.Bool()
				case 4:
					r.Uint64()
				case 5:
					r.Float32()
				case 6:
					r.Str()
				case 7:
					r.Sym()
				case 8:
					if n := r.Count(1); n > len(in) {
						t.Fatalf("count %d beyond an input of %d bytes", n, len(in))
					}
				case 9:
					r.Part()
				case 10:
					r.Section("s", func(r *Reader) error { run(r, ops[i+1:min(len(ops), i+4)]); return nil })
				case 11:
					r.End()
				}
			}
		}
		run(r, ops)
	})
}
