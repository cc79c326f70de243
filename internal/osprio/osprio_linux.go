package osprio

import "golang.org/x/sys/unix"

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
