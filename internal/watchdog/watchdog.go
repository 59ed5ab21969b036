// Package watchdog drives a Linux watchdog device (/dev/watchdog, softdog)
// directly: every write keeps the machine alive, and a "magic close" (the
// character 'V' written before closing) disarms it, so that a clean stop
// does not reboot the node while a crash or a hang does.
//
// Normally heartbeat leaves the hardware watchdog to systemd
// (RuntimeWatchdogSec=, see systemd/heartbeat-watchdog.conf); this package
// is for the ha.cf `watchdog` directive when the daemon is asked to drive the
// device itself.
package watchdog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Device is an open watchdog device.
type Device struct {
	path string
	f    *os.File
}

// ErrNoDevice is returned when the device does not exist (no watchdog
// driver loaded, as in containers).
var ErrNoDevice = errors.New("no watchdog device")

// Check reports whether path exists and is a device or a file that could be
// opened for writing, without opening it (opening arms a real watchdog).
func Check(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w (load a watchdog driver, e.g. softdog, or a hardware one)", path, ErrNoDevice)
	}
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	if fi.IsDir() {
		return fmt.Errorf("watchdog: %s is a directory", path)
	}
	return nil
}

// Open arms the watchdog at path.
func Open(path string) (*Device, error) {
	if err := Check(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	return &Device{path: path, f: f}, nil
}

// Pet keeps the machine alive for one more timeout period.
func (d *Device) Pet() error {
	if _, err := d.f.Write([]byte{0}); err != nil {
		return fmt.Errorf("watchdog %s: %w", d.path, err)
	}
	return nil
}

// Close disarms the watchdog with the magic close and closes the device.
func (d *Device) Close() error {
	_, werr := d.f.Write([]byte{'V'})
	cerr := d.f.Close()
	if werr != nil {
		return fmt.Errorf("watchdog %s: magic close: %w", d.path, werr)
	}
	return cerr
}

// Abandon closes the device without the magic close: the watchdog stays
// armed and reboots the node when its timeout runs out (a crash).
func (d *Device) Abandon() error { return d.f.Close() }
