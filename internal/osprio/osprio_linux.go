package osprio

import (
	"time"

	"golang.org/x/sys/unix"
)

// Supported: Linux sets one thread's priority.
const Supported = true

// lowerThread raises the nice value of the calling thread: on Linux,
// setpriority with a thread id changes that thread alone.
func lowerThread(n int) error {
	tid := unix.Gettid()
	cur, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return err
	}
	// getpriority returns 20 - nice.
	return unix.Setpriority(unix.PRIO_PROCESS, tid, min(19, 20-cur+n))
}

// shortSlice sets the calling thread's slice under the fair scheduler
// (sched_setattr with SCHED_OTHER and sched_runtime), keeping its nice
// value. The kernel clamps a slice to 100 µs–100 ms.
func shortSlice(d time.Duration) error {
	tid := unix.Gettid()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return err
	}
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: int32(20 - p),
		Runtime: uint64(max(d, 100*time.Microsecond))}
	return unix.SchedSetAttr(0, &attr, 0)
}
