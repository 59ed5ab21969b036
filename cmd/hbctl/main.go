// Command hbctl shows and steers the local heartbeat daemon. Installed (or
// linked) as cl_status, hb_standby or hb_takeover it behaves as the
// Heartbeat 3.0.6 tool of that name.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/linuxha/heartbeat/internal/hbctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := hbctl.Main(ctx, os.Args, hbctl.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
