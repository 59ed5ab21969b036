// Command hbctl shows and steers the local heartbeat daemon.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/linuxha/heartbeat/internal/hbctl"
)

func main() {
	if err := hbctl.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "hbctl: %v\n", err)
		os.Exit(hbctl.ExitCode(err))
	}
}
