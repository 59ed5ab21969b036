// Command heartbeat is the cluster daemon: it reads /etc/ha.d, exchanges
// heartbeats with its peers, runs the resource groups of haresources and
// runs in the foreground, as a systemd service (Type=notify) wants.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/linuxha/heartbeat/internal/daemon"
	"github.com/linuxha/heartbeat/internal/version"
)

func main() {
	var (
		opts        daemon.Options
		checkConfig bool
		cleanup     bool
		showVersion bool
	)
	flag.StringVar(&opts.ConfigDir, "config-dir", "/etc/ha.d", "directory holding ha.cf, haresources and authkeys")
	flag.StringVar(&opts.NodeName, "node-name", "", "this node's name (default: uname -n)")
	flag.StringVar(&opts.StateDir, "state-dir", "/var/lib/heartbeat", "directory for the node uuid and generation")
	flag.StringVar(&opts.RuntimeDir, "runtime-dir", "/run/heartbeat", "directory for the control socket and the record of held groups")
	flag.BoolVar(&opts.WatchdogDirect, "watchdog-direct", false, "open and pet the ha.cf watchdog device directly instead of leaving it to systemd")
	flag.IntVar(&opts.AnnounceCount, "announce-count", 0, "gratuitous ARPs / unsolicited NAs sent when a VIP is taken (0: 5)")
	flag.DurationVar(&opts.AnnounceInterval, "announce-interval", 0, "time between VIP announcements (0: 200ms)")
	flag.BoolVar(&checkConfig, "check-config", false, "check the configuration, print the result and exit")
	flag.BoolVar(&cleanup, "cleanup", false, "release the resource groups a previous (crashed) run left behind, and exit (ExecStopPost)")
	flag.BoolVar(&showVersion, "version", false, "print the version and exit")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "heartbeat: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	switch {
	case showVersion:
		fmt.Println("heartbeat", version.String())
		return
	case checkConfig:
		os.Exit(daemon.CheckConfig(os.Stdout, opts))
	case cleanup:
		if err := daemon.Cleanup(context.Background(), opts); err != nil {
			fmt.Fprintf(os.Stderr, "heartbeat: %v\n", err)
			os.Exit(1)
		}
		return
	}
	// One P unless GOMAXPROCS says otherwise. The daemon's work is a few
	// microseconds per datagram; what costs is waking threads. With more
	// than one P every goroutine made runnable (a datagram for the engine
	// loop, a timer) wakes a second thread to spin for work it rarely finds,
	// and the runtime re-reads the CPU quota every second: at keepalive
	// 20ms that doubled the context switches per packet. Blocking system
	// calls (netlink, D-Bus, scripts) still hand the P over, so the engine
	// loop is not held up by them. Measured: test/bench/cpu_per_packet.sh.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := daemon.Run(ctx, opts); err != nil {
		fmt.Fprintf(os.Stderr, "heartbeat: %v\n", err)
		os.Exit(1)
	}
}
