package event

import (
	"bytes"
	"io"
	"os"
	"testing"
)

func exampleLine(b *testing.B, typ string) []byte {
	data, err := os.ReadFile("testdata/valid.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range bytes.Split(data, []byte("\n")) {
		if bytes.Contains(l, []byte(`"type":"`+typ+`"`)) {
			return l
		}
	}
	b.Fatalf("no %s example", typ)
	return nil
}

func BenchmarkDecode(b *testing.B) {
	for _, typ := range []string{"vehicle.telemetry", "vehicle.command", "auth.login", "api.access", "firmware.install"} {
		b.Run(typ, func(b *testing.B) {
			line := exampleLine(b, typ)
			dec := NewDecoder(Limits{})
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dec.Decode(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReaderNDJSON(b *testing.B) {
	data, err := os.ReadFile("testdata/valid.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	stream := bytes.Repeat(append(bytes.TrimSpace(data), '\n'), 100)
	n := bytes.Count(stream, []byte("\n"))
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		rd, _ := NewReader(bytes.NewReader(stream), NewDecoder(Limits{}))
		for {
			if _, err := rd.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkEncode(b *testing.B) {
	ev, err := NewDecoder(Limits{}).Decode(exampleLine(b, "vehicle.telemetry"))
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], ev)
	}
}
