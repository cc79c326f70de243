package app

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
)

// machineCPU is the whole machine's CPU time by state, as the kernel counts
// it in /proc/stat (in clock ticks, summed over every core). A benchmark's
// figures depend on the machine around it: on a virtual machine the
// hypervisor can run other guests on its cores ("steal"), which slows this
// one without showing in any process's CPU time.
type machineCPU struct {
	busy, idle, steal uint64
	ok                bool
}

// parseProcStat reads the aggregate "cpu" line of /proc/stat: user nice
// system idle iowait irq softirq steal (guest time is already in user).
func parseProcStat(b []byte) (machineCPU, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 || string(f[0]) != "cpu" {
			continue
		}
		if len(f) < 9 {
			return machineCPU{}, fmt.Errorf("/proc/stat: the cpu line has %d fields, want at least 9 (up to steal)", len(f))
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(string(f[i+1]), 10, 64)
			if err != nil {
				return machineCPU{}, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
			}
			v[i] = n
		}
		return machineCPU{
			busy:  v[0] + v[1] + v[2] + v[5] + v[6],
			idle:  v[3] + v[4],
			steal: v[7],
			ok:    true,
		}, nil
	}
	return machineCPU{}, fmt.Errorf("/proc/stat: no aggregate cpu line")
}

// machineShare is how the machine's cores spent an interval, in percent.
type machineShare struct {
	busy, idle, steal float64
	ok                bool
}

// since is the share of each state between an earlier reading and m.
func (m machineCPU) since(earlier machineCPU) machineShare {
	if !m.ok || !earlier.ok || m.busy < earlier.busy || m.idle < earlier.idle || m.steal < earlier.steal {
		return machineShare{}
	}
	busy, idle, steal := m.busy-earlier.busy, m.idle-earlier.idle, m.steal-earlier.steal
	total := float64(busy + idle + steal)
	if total == 0 {
		return machineShare{}
	}
	return machineShare{busy: 100 * float64(busy) / total, idle: 100 * float64(idle) / total, steal: 100 * float64(steal) / total, ok: true}
}

// stealWarning is the share of steal above which a run's figures are
// reported as not the machine's own.
const stealWarning = 5.0

// report writes the interval's line, and a warning when the hypervisor took
// a noticeable share of the cores: rates and latencies of such a run
// understate what the machine does alone.
func (s machineShare) report(what string, cores int) string {
	if !s.ok {
		return ""
	}
	line := fmt.Sprintf("  machine over %s: %d cores %.0f%% busy, %.0f%% idle, %.0f%% taken by the hypervisor (steal, /proc/stat)\n",
		what, cores, s.busy, s.idle, s.steal)
	if s.steal >= stealWarning {
		line += fmt.Sprintf("  warning: the hypervisor ran other work on this machine's cores for %.0f%% of the time: the rates and latencies above are lower and longer than the machine gives alone; compare runs only with little steal\n", s.steal)
	}
	return line
}
