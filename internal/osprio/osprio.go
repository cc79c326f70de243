// Package osprio runs vigil's bulk workers — the archive writer, the
// timeline indexer, the detection shards — at a lower operating-system
// priority than the goroutines that answer requests, so that a command gate
// decision or an API call does not queue behind a burst of ingest work.
//
// The Go scheduler treats all goroutines alike; the kernel does not. A bulk
// worker calls Background at its start: when a process enabled it, the
// goroutine is wired to its own thread, whose nice value is raised. The
// request handlers run on the other threads at the process's priority, and
// the kernel hands them a core first when both want one. Raising a nice
// value needs no privilege.
package osprio

import (
	"runtime"
	"sync/atomic"
	"time"
)

var nice atomic.Int32

// Enable makes later Background calls lower their thread's priority by n
// nice steps (1–19); 0 turns it off. Processes that serve requests call it
// once at start; tools that only compute (replay, bench) do not.
func Enable(n int) {
	if !Supported {
		return
	}
	nice.Store(int32(min(max(n, 0), 19)))
}

// Enabled returns the nice steps Background applies, 0 when off.
func Enabled() int { return int(nice.Load()) }

// Background lowers the priority of the calling goroutine's thread, when
// Enable asked for it, and keeps the goroutine on that thread until it
// returns: the thread then exits instead of carrying its lower priority
// to other goroutines. Call it first thing in a bulk worker's goroutine,
// never from one that answers requests. It reports whether the priority
// was lowered; failing to lower it is harmless.
func Background() bool {
	n := int(nice.Load())
	if n == 0 || !Supported {
		return false
	}
	runtime.LockOSThread()
	// Deliberately no UnlockOSThread: see above.
	return lowerThread(n) == nil
}

// Urgent asks the kernel to wake the calling goroutine's thread ahead of
// threads of its own priority, and keeps the goroutine on that thread
// until it returns (the thread then exits). For a goroutine that spends
// its life waiting for a latency-bound request in a blocking system call
// (the command gate's connections, internal/api/threadhttp). It reports
// whether the kernel took the request; failing is harmless.
//
// On Linux it shortens the thread's time slice to slice (at least 100 µs):
// the kernel's scheduler (EEVDF, Linux 6.6 and later) gives a thread with a
// shorter slice an earlier deadline, and from Linux 6.12 lets it preempt a
// thread with a longer one as it wakes. A slice is a hint, not a priority:
// setting one needs no privilege and takes no more CPU than the thread's
// share.
func Urgent(slice time.Duration) bool {
	if !Supported {
		return false
	}
	runtime.LockOSThread()
	return shortSlice(slice) == nil
}
