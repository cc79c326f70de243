package app

import "os"

// readMachineCPU reads the machine's CPU time by state; ok is false when
// /proc/stat cannot be read (a container without /proc).
func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	m, err := parseProcStat(b)
	if err != nil {
		return machineCPU{}
	}
	return m
}
