package event

import (
	"bytes"
	"errors"
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

// FuzzReader checks the stream framing never panics or loops.
func FuzzReader(f *testing.F) {
	f.Add([]byte("[" + telemetryLine + "]"))
	f.Add([]byte(telemetryLine + "\n{\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := NewReader(bytes.NewReader(b), NewDecoder(Limits{MaxEventBytes: 1024}))
		if err != nil {
			return
		}
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
