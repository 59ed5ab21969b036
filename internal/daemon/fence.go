package daemon

import (
	"context"
	"fmt"
	"log/slog"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"golang.org/x/sys/unix"
)

// fencer reboots the node when a resource group cannot be stopped, so that
// the peer can take it over safely (3.0.6 did the same). It asks systemd for
// reboot.target; if systemd cannot be reached it reboots with the syscall.
func fencer(log *slog.Logger) func(ctx context.Context, reason string) error {
	return func(ctx context.Context, reason string) error {
		log.Error("fencing this node: rebooting", "reason", reason)
		conn, err := sddbus.NewSystemConnectionContext(ctx)
		if err == nil {
			defer conn.Close()
			if _, err = conn.StartUnitContext(ctx, "reboot.target", "replace-irreversibly", nil); err == nil {
				return nil
			}
		}
		log.Error("systemd did not take the reboot job, rebooting directly", "err", err)
		unix.Sync()
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
			return fmt.Errorf("reboot: %w", err)
		}
		return nil
	}
}
