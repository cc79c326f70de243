package osprio

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestUrgent: the thread asks for a short slice and keeps its nice value;
// other threads keep the kernel's default.
func TestUrgent(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		if !Urgent(200 * time.Microsecond) {
			done <- errors.New("Urgent reported failure")
			return
		}
		attr, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			done <- err
			return
		}
		if attr.Runtime != uint64(200*time.Microsecond) || attr.Policy != unix.SCHED_NORMAL {
			done <- fmt.Errorf("thread's policy %d, slice %d ns; want SCHED_NORMAL with 200µs", attr.Policy, attr.Runtime)
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if attr.Runtime == uint64(200*time.Microsecond) {
		t.Errorf("another thread's slice changed too: %d ns", attr.Runtime)
	}
}

// TestUrgentUnprivileged runs TestUrgent as the user nobody when the tests
// run as root: asking for a shorter slice must need no privilege.
func TestUrgentUnprivileged(t *testing.T) {
	if os.Getuid() != 0 {
		t.Log("not root: TestUrgent ran unprivileged already")
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "osprio")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "osprio.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestUrgent$", "-test.count", "1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("TestUrgent as nobody: %v\n%s", err, out)
	}
}
