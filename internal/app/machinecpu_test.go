package app

import (
	"runtime"
	"strings"
	"testing"
)

// TestMachineCPU reads the machine's CPU states from /proc/stat lines as
// the kernel writes them, and reports an interval's shares with a warning
// when a hypervisor took a noticeable part.
func TestMachineCPU(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	before, err := parseProcStat([]byte("cpu  100 10 40 500 20 0 30 0 0 0\ncpu0 50 5 20 250 10 0 15 0 0 0\nintr 1 2 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseProcStat([]byte("cpu  400 10 140 700 20 0 130 200 55 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Busy 500 (user 300, system 100, softirq 100), idle 200, steal 200.
	s := after.since(before)
	if !s.ok || s.busy < 55.5 || s.busy > 55.6 || s.idle < 22.2 || s.idle > 22.3 || s.steal < 22.2 || s.steal > 22.3 {
		t.Fatalf("shares %+v, want busy 55.6 %%, idle 22.2 %%, steal 22.2 %%", s)
	}
	line := s.report("the run", 2)
	for _, want := range []string{"machine over the run: 2 cores 56% busy, 22% idle, 22% taken by the hypervisor (steal, /proc/stat)", "warning: the hypervisor ran other work on this machine's cores for 22% of the time"} {
		if !strings.Contains(line, want) {
			t.Errorf("the report %q lacks %q", line, want)
		}
	}
	// Little steal: the line without the warning.
	calm, _ := parseProcStat([]byte("cpu  600 10 140 1700 20 0 130 210 0 0\n"))
	if line := calm.since(after).report("the run", 2); !strings.Contains(line, "1% taken by the hypervisor") || strings.Contains(line, "warning") {
		t.Errorf("with 1 %% steal the report is %q", line)
	}
	// A counter that went back (another boot), or no reading: nothing.
	if s := before.since(after); s.ok || s.report("the run", 2) != "" {
		t.Errorf("a reading older than the earlier one gave %+v", s)
	}
	if s := after.since(machineCPU{}); s.ok {
		t.Errorf("no earlier reading gave %+v", s)
	}
	for _, bad := range []string{"", "intr 1 2\n", "cpu  1 2 3 4 5 6 7\n", "cpu  1 2 3 x 5 6 7 8\n"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// The real file, where the kernel has one.
	if runtime.GOOS == "linux" {
		if m := readMachineCPU(); !m.ok || m.busy+m.idle == 0 {
			t.Errorf("/proc/stat read as %+v", m)
		}
	}
}
