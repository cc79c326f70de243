package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func runMain(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestReplayContractExamples replays the contract's examples as one stream:
// every valid event is accepted, every invalid case rejected naming its
// field, and the rest of the stream goes on.
func TestReplayContractExamples(t *testing.T) {
	valid, err := os.ReadFile("../event/testdata/valid.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	invalidJSON, err := os.ReadFile("../event/testdata/invalid.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Field *string         `json:"field"`
		Raw   string          `json:"raw"`
		Event json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(invalidJSON, &cases); err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	validLines := bytes.Split(bytes.TrimSpace(valid), []byte("\n"))
	for i, c := range cases {
		// Interleave: a valid event, then an invalid one.
		in.Write(validLines[i%len(validLines)])
		in.WriteByte('\n')
		if c.Event != nil {
			var compact bytes.Buffer
			json.Compact(&compact, c.Event)
			in.Write(compact.Bytes())
		} else {
			in.WriteString(c.Raw)
		}
		in.WriteByte('\n')
	}
	rejects := filepath.Join(t.TempDir(), "rejects.txt")
	code, _, stderr := runMain(t, in.String(), "replay", "--rejects", rejects, "--dedup-window", "1ns")
	if code != 0 {
		t.Fatalf("exit code %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "rejected:         "+itoa(len(cases))+"\n") ||
		!strings.Contains(stderr, "accepted:         "+itoa(len(cases))+"\n") {
		t.Errorf("summary does not show %d accepted and %d rejected:\n%s", len(cases), len(cases), stderr)
	}
	msgs, err := os.ReadFile(rejects)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(msgs)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d rejection messages, want %d:\n%s", len(lines), len(cases), msgs)
	}
	for i, c := range cases {
		// Each message names the event by position (odd lines are invalid).
		prefix := "event " + itoa(2*i+1) + " (line " + itoa(2*i+2)
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("message %q does not start with %q", lines[i], prefix)
		}
		if c.Field != nil && !strings.Contains(lines[i], "): "+*c.Field+": ") {
			t.Errorf("message %q does not name field %s", lines[i], *c.Field)
		}
	}
}

func itoa(n int) string { return jsonInt(n) }

func jsonInt(n int) string { return strconv.Itoa(n) }

func TestReplayExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := `{"specversion":"1.0","id":"t1","source":"s","type":"vehicle.telemetry","time":"2026-03-02T07:14:05Z","subject":"V","data":{"position":{"lat":1,"lon":2}}}`
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		err   string
	}{
		{"accepted", good, []string{"replay"}, 0, "accepted:         1"},
		{"rejected only is not an error", `{"id":1}`, []string{"replay"}, 0, "rejected:         1"},
		{"missing file", "", []string{"replay", "--in", filepath.Join(dir, "nope.ndjson")}, 1, "cannot read input"},
		{"broken array", "[" + good + " " + good + "]", []string{"replay"}, 1, "the rest of the input cannot be read"},
		{"unclosed array", "[" + good, []string{"replay"}, 1, "closing ']' is missing"},
		{"bad gzip", "\x1f\x8bnot gzip at all", []string{"replay"}, 1, "gzip"},
		{"unknown flag", "", []string{"replay", "--frobnicate"}, 2, "flag provided but not defined"},
		{"unknown command", "", []string{"frobnicate"}, 2, "unknown command"},
		{"help", "", []string{"replay", "-h"}, 0, "Usage: vigil replay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.err) {
				t.Errorf("exit %d (want %d), stderr:\n%s\nwant it to contain %q", code, tt.code, stderr, tt.err)
			}
		})
	}
}
