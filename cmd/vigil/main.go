// Command vigil is the security operations engine for connected-car
// back-ends. All the work is in internal/app.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil-project/vigil/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
