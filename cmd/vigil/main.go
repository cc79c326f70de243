// Command vigil is the security operations engine for connected-car
// back-ends. All the work is in internal/app.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/vigil-project/vigil/internal/app"
)

// init keeps the main goroutine on the main thread, so that no bulk worker
// is ever wired to it (internal/osprio lowers the priority of its worker's
// thread): the main thread is the one ps, top and renice name by the
// process id, and it keeps the process's priority.
func init() { runtime.LockOSThread() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
