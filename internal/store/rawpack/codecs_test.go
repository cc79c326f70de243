package rawpack

import (
	"context"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/vigil-project/vigil/internal/alert"
	vevent "github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

// simulated is the stream of `vigil simulate --vehicles 2000 --duration 2h
// --attacks all`, one event's JSON each.
func simulated(b *testing.B) [][]byte {
	b.Helper()
	s, err := sim.New(sim.Config{Seed: 1, Vehicles: 2000, Duration: 2 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 3})
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	err = s.Run(context.Background(), func(ev *vevent.Event) error {
		out = append(out, vevent.AppendJSON(nil, ev))
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkCodecs compares what the archive could pack events with, on the
// simulator's stream: bytes an event, and the time to pack and unpack one.
func BenchmarkCodecs(b *testing.B) {
	evs := simulated(b)
	zplain, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
	zdict, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false),
		zstd.WithEncoderDictRaw(1, dictionary1))
	dplain, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	ddict, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderDictRaw(1, dictionary1))
	codecs := []struct {
		name   string
		pack   func(dst, src []byte) []byte
		unpack func(src []byte) ([]byte, error)
	}{
		{"rawpack", Pack, func(src []byte) ([]byte, error) { return Unpack(src, 1<<20) }},
		{"s2", s2.Encode, func(src []byte) ([]byte, error) { return s2.Decode(nil, src) }},
		{"zstd", func(dst, src []byte) []byte { return zplain.EncodeAll(src, dst) }, func(src []byte) ([]byte, error) { return dplain.DecodeAll(src, nil) }},
		{"zstd+dictionary1", func(dst, src []byte) []byte { return zdict.EncodeAll(src, dst) }, func(src []byte) ([]byte, error) { return ddict.DecodeAll(src, nil) }},
	}
	for _, c := range codecs {
		packed := make([][]byte, len(evs))
		plain, total := 0, 0
		for i, e := range evs {
			packed[i] = c.pack(nil, e)
			plain += len(e)
			total += len(packed[i])
		}
		b.Run("pack/"+c.name, func(b *testing.B) {
			var buf []byte
			i := 0
			for b.Loop() {
				buf = c.pack(buf[:0], evs[i%len(evs)])
				i++
			}
			b.ReportMetric(float64(plain)/float64(len(evs)), "plain-bytes/event")
			b.ReportMetric(float64(total)/float64(len(evs)), "packed-bytes/event")
		})
		b.Run("unpack/"+c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := c.unpack(packed[i%len(packed)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
