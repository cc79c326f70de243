//go:build !linux

package app

// readMachineCPU is not measured on this platform: the reports leave the
// machine's line out.
func readMachineCPU() machineCPU { return machineCPU{} }
