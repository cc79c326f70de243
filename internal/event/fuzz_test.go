package event

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic, must
// reject with a FieldError, and what it accepts must survive a round trip.
func FuzzDecode(f *testing.F) {
	if data, err := os.ReadFile("testdata/valid.ndjson"); err == nil {
		for _, l := range bytes.Split(data, []byte("\n")) {
			f.Add(l)
		}
	}
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`{"a":"\ud83d\ude00\u0000"}`))
	dec := NewDecoder(Limits{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := dec.Decode(b)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		enc := AppendJSON(nil, ev)
		again, err := dec.Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded event rejected: %v\n%s\nfrom %q", err, enc, b)
		}
		if enc2 := AppendJSON(nil, again); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip differs:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzReader checks the stream framing never panics or loops, and that
// NewBytesReader frames every input as NewReader does (inputs this small
// fit the stream's first read, where the two must agree).
func FuzzReader(f *testing.F) {
	f.Add([]byte("[" + telemetryLine + "]"))
	f.Add([]byte(telemetryLine + "\n{\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxEventBytes: 1024}
		rd, err := NewReader(bytes.NewReader(b), NewDecoder(lim))
		mem, merr := NewBytesReader(b, NewDecoder(lim))
		if (err == nil) != (merr == nil) {
			t.Fatalf("NewReader: %v, NewBytesReader: %v", err, merr)
		}
		if err != nil {
			return
		}
		for i := 0; i <= len(b)+1; i++ {
			f1, err1 := rd.NextFrame()
			f2, err2 := mem.NextFrame()
			if !bytes.Equal(f1.Raw, f2.Raw) || (f1.Raw == nil) != (f2.Raw == nil) || f1.Index != f2.Index || f1.Line != f2.Line ||
				fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Fatalf("frames differ: NewReader %q %d %d %v, NewBytesReader %q %d %d %v",
					f1.Raw, f1.Index, f1.Line, err1, f2.Raw, f2.Index, f2.Line, err2)
			}
			if err1 != nil {
				break
			}
		}
		rd, _ = NewReader(bytes.NewReader(b), NewDecoder(lim))
		for i := 0; i <= len(b)+1; i++ {
			_, err := rd.Next()
			var re *RejectError
			if err != nil && !errors.As(err, &re) {
				return
			}
		}
		if _, err := rd.Next(); err != io.EOF {
			var re *RejectError
			if !errors.As(err, &re) {
				return
			}
			t.Fatalf("reader did not end after %d bytes", len(b))
		}
	})
}
