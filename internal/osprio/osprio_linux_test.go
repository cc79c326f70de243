package osprio

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// threadNice reads the calling thread's nice value.
func threadNice(t *testing.T) int {
	t.Helper()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

func TestBackgroundLowersOnlyItsThread(t *testing.T) {
	defer Enable(0)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNice(t)

	// Off: nothing changes, and the goroutine is not wired to a thread.
	Enable(0)
	got := make(chan int)
	go func() {
		ok := Background()
		if ok {
			t.Error("Background lowered a priority while off")
		}
		got <- threadNice(t)
	}()
	if n := <-got; n != before {
		t.Errorf("off: worker nice %d, want the process's %d", n, before)
	}

	Enable(7)
	if Enabled() != 7 {
		t.Fatalf("Enabled() = %d, want 7", Enabled())
	}
	type seen struct{ start, later int }
	res := make(chan seen)
	go func() {
		if !Background() {
			t.Error("Background did not lower the priority")
		}
		s := seen{start: threadNice(t)}
		// Still on the same lowered thread after the scheduler ran
		// other goroutines: the worker stays wired to it.
		for range 100 {
			runtime.Gosched()
		}
		s.later = threadNice(t)
		res <- s
	}()
	s := <-res
	want := min(19, before+7)
	if s.start != want || s.later != want {
		t.Errorf("worker nice %d then %d, want %d", s.start, s.later, want)
	}
	// The test's own thread, which answers "requests" here, is untouched.
	if n := threadNice(t); n != before {
		t.Errorf("caller's nice changed to %d from %d", n, before)
	}
}

func TestEnableClamps(t *testing.T) {
	defer Enable(0)
	for _, c := range []struct{ in, want int }{{-3, 0}, {0, 0}, {5, 5}, {19, 19}, {40, 19}} {
		Enable(c.in)
		if got := Enabled(); got != c.want {
			t.Errorf("Enable(%d): Enabled() = %d, want %d", c.in, got, c.want)
		}
	}
}
