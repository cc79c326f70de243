package event

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// readAll returns the ids of accepted events and the rejections, and checks
// that NewBytesReader reads the input as NewReader does.
func readAll(t *testing.T, in []byte) (ids []string, rejects []*RejectError, err error) {
	t.Helper()
	ids, rejects, err = readWith(t, in, false)
	bids, brejects, berr := readWith(t, in, true)
	if fmt.Sprint(ids, rejects, err) != fmt.Sprint(bids, brejects, berr) {
		t.Errorf("NewBytesReader read %v %v %v, NewReader %v %v %v", bids, brejects, berr, ids, rejects, err)
	}
	return ids, rejects, err
}

func readWith(t *testing.T, in []byte, inMemory bool) (ids []string, rejects []*RejectError, err error) {
	t.Helper()
	dec := NewDecoder(Limits{MaxEventBytes: 4096})
	var rd *Reader
	if inMemory {
		rd, err = NewBytesReader(in, dec)
	} else {
		rd, err = NewReader(bytes.NewReader(in), dec)
	}
	if err != nil {
		return nil, nil, err
	}
	for {
		ev, err := rd.Next()
		var re *RejectError
		switch {
		case err == io.EOF:
			return ids, rejects, nil
		case errors.As(err, &re):
			rejects = append(rejects, re)
		case err != nil:
			return ids, rejects, err
		default:
			ids = append(ids, ev.ID)
		}
	}
}

func line(id string) string { return strings.Replace(telemetryLine, `"id":"t1"`, `"id":"`+id+`"`, 1) }

func TestReaderFramings(t *testing.T) {
	pretty := strings.ReplaceAll(line("p1"), ",", ",\n  ")
	tests := []struct {
		name    string
		in      string
		ids     string
		rejects string // index:line:field of each rejection
		fatal   bool
	}{
		{"ndjson", line("a") + "\n" + line("b") + "\n", "a b", "", false},
		{"ndjson no final newline, blank lines", "\n" + line("a") + "\n\n" + line("b"), "a b", "", false},
		{"ndjson broken line in the middle", line("a") + "\n" + `{"specversion":"1.0","id":"x1",` + "\n" + line("c") + "\n", "a c", "1:2:", false},
		{"ndjson broken first line", `{"specversion":"1.0","id":"x1",` + "\n" + line("c") + "\n", "c", "0:1:", false},
		{"ndjson array line rejected", line("a") + "\n[1,2,3]\n" + line("c"), "a c", "1:2:", false},
		{"array", "[" + line("a") + "," + line("b") + "]", "a b", "", false},
		{"array with a bad element", "[\n" + line("a") + ",\n" + strings.Replace(line("b"), "48.1", "123", 1) + ",\n" + line("c") + "\n]", "a c", "1:3:data.position.lat", false},
		{"two arrays", "[" + line("a") + "]\n[" + line("b") + "]", "a b", "", false},
		{"empty array", "[]", "", "", false},
		{"pretty object", pretty + "\n" + pretty, "p1 p1", "", false},
		{"array missing comma", "[" + line("a") + " " + line("b") + "]", "a", "", true},
		{"array not closed", "[" + line("a"), "a", "", true},
		{"too large line", line("a") + "\n" + `{"id":"` + strings.Repeat("x", 5000) + `"}` + "\n" + line("c"), "a c", "1:2:", false},
		{"empty input", "", "", "", false},
		{"BOM", "\xef\xbb\xbf" + line("a"), "a", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, rejects, err := readAll(t, []byte(tt.in))
			if (err != nil) != tt.fatal {
				t.Fatalf("err = %v, fatal %v", err, tt.fatal)
			}
			if got := strings.Join(ids, " "); got != tt.ids {
				t.Errorf("ids %q, want %q", got, tt.ids)
			}
			var rs []string
			for _, r := range rejects {
				rs = append(rs, itoa(r.Index)+":"+itoa(r.Line)+":"+r.Field)
			}
			if got := strings.Join(rs, " "); got != tt.rejects {
				t.Errorf("rejects %q, want %q (%v)", got, tt.rejects, rejects)
			}
		})
	}
}

func TestReaderGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for i := range 1000 {
		io.WriteString(zw, line("g"+itoa(i))+"\n")
	}
	zw.Close()
	ids, rejects, err := readAll(t, buf.Bytes())
	if err != nil || len(rejects) > 0 || len(ids) != 1000 || ids[999] != "g999" {
		t.Fatalf("got %d ids, %v, %v", len(ids), rejects, err)
	}
}

func TestRejectErrorNamesEvent(t *testing.T) {
	in := line("a") + "\n" + strings.Replace(line("b"), "48.1", "123", 1) + "\n"
	_, rejects, _ := readAll(t, []byte(in))
	if len(rejects) != 1 {
		t.Fatalf("rejects: %v", rejects)
	}
	want := `event 1 (line 2, id "b"): data.position.lat: 123 is outside [-90, 90]`
	if got := rejects[0].Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
