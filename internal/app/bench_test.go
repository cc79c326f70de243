package app

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestBenchCommand runs vigil bench's engine measurements on a small
// stream: every part of the report is there, with figures that add up.
func TestBenchCommand(t *testing.T) {
	code, out, errs := runMain(t, "", "bench", "--events", "20000", "--vehicles", "200", "--rate", "5000",
		"--latency-duration", "2s", "--mem-vehicles", "3000")
	t.Log("\n" + out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^detectors: \d+ built-in and \d+ rules$`),
		regexp.MustCompile(`(?m)^stream: 20000 events from 200 simulated vehicles`),
		regexp.MustCompile(`(?m)^  decode only, 1 core: +[1-9]\d* events/s`),
		regexp.MustCompile(`(?m)^  whole engine, 1 core: +[1-9]\d* events/s   = \d+% of the ceiling, [1-9]\d* alerts$`),
		regexp.MustCompile(`(?m)^latency, arrival to alert, 5000 events/s offered for 2s \(\d+ events, [1-9]\d* alerts\)$`),
		regexp.MustCompile(`(?m)^  p50 \S+   p99 \S+   p99.9 \S+   max \S+$`),
		regexp.MustCompile(`(?m)^memory: [1-9]\d* heap bytes per tracked vehicle with 3000 vehicles`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the report lacks %v", want)
		}
	}
	if runtime.GOOS == "linux" && !regexp.MustCompile(`(?m)^  machine over the throughput and latency runs: \d+ cores \d+% busy, \d+% idle, \d+% taken by the hypervisor \(steal, /proc/stat\)$`).MatchString(out) {
		t.Errorf("the report lacks the machine's line")
	}
	// Bad flags are a usage error that names the bounds.
	code, _, errs = runMain(t, "", "bench", "--events", "10")
	if code == 0 || !strings.Contains(errs, "--events ≥ 1000") {
		t.Errorf("--events 10: exit %d, %q", code, errs)
	}
}
