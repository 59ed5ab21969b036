//go:build clustertest

package cluster

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// SerialLink is a null-modem cable between two nodes: two pty pairs whose
// slaves are bound into the nodes as /dev/ttyS<k> and a relay copying bytes
// between the masters. Disconnect makes the relay drop every byte (a pulled
// cable: no hangup, the ports stay open); Connect plugs it back in. Bytes
// the far side does not read in time are dropped, as on a real line.
type SerialLink struct {
	ends      [2]serialEnd
	connected atomic.Bool
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type serialEnd struct {
	node   *Node
	dev    string // path in the node, /dev/ttyS<k>
	pts    string // host path of the slave, /dev/pts/N
	master *os.File
	slave  *os.File // held open: no hangup when the node closes its port
}

func newSerialLink(a, b *Node) (*SerialLink, error) {
	s := &SerialLink{}
	for i, n := range []*Node{a, b} {
		m, sl, pts, err := openPTY()
		if err != nil {
			s.Close()
			return nil, err
		}
		dev := fmt.Sprintf("/dev/ttyS%d", len(n.ttys))
		n.ttys = append(n.ttys, fmt.Sprintf("--bind=%s:%s", pts, dev))
		s.ends[i] = serialEnd{node: n, dev: dev, pts: pts, master: m, slave: sl}
	}
	s.connected.Store(true)
	s.wg.Add(2)
	go s.relay(&s.ends[0], &s.ends[1])
	go s.relay(&s.ends[1], &s.ends[0])
	return s, nil
}

// openPTY opens a pty pair: the master non-blocking (read through Go's
// poller), the slave in raw mode with no echo.
func openPTY() (master, slave *os.File, path string, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, "", fmt.Errorf("open /dev/ptmx: %w", err)
	}
	master = os.NewFile(uintptr(fd), "ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, "", fmt.Errorf("unlock pty: %w", err)
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		master.Close()
		return nil, nil, "", fmt.Errorf("open pty slave: %w", errno)
	}
	slave = os.NewFile(sfd, "pts")
	path, err = os.Readlink(fmt.Sprintf("/proc/self/fd/%d", sfd))
	if err == nil {
		err = makeRaw(int(sfd))
	}
	if err != nil {
		master.Close()
		slave.Close()
		return nil, nil, "", fmt.Errorf("pty slave: %w", err)
	}
	return master, slave, path, nil
}

func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set termios: %w", err)
	}
	return nil
}

// relay copies what one node sends to the other node's port until Close.
func (s *SerialLink) relay(from, to *serialEnd) {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := from.master.Read(buf)
		if n > 0 && s.connected.Load() {
			writeOrDrop(to.master, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// writeOrDrop writes to a non-blocking master and drops what does not fit.
func writeOrDrop(f *os.File, p []byte) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Write(func(fd uintptr) bool {
		for len(p) > 0 {
			n, err := unix.Write(int(fd), p)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return true
			}
			p = p[n:]
		}
		return true
	})
}

// Device is the port's path in node n (/dev/ttyS<k>), "" if n is not on
// this cable.
func (s *SerialLink) Device(n *Node) string {
	for _, e := range s.ends {
		if e.node == n {
			return e.dev
		}
	}
	return ""
}

// Disconnect pulls the cable: bytes sent either way are dropped.
func (s *SerialLink) Disconnect() { s.connected.Store(false) }

// Connect plugs the cable back in.
func (s *SerialLink) Connect() { s.connected.Store(true) }

// Connected reports whether the cable is plugged in.
func (s *SerialLink) Connected() bool { return s.connected.Load() }

// PTYs returns the host paths of the two pty slaves.
func (s *SerialLink) PTYs() [2]string { return [2]string{s.ends[0].pts, s.ends[1].pts} }

// Close stops the relay and closes the ptys.
func (s *SerialLink) Close() {
	s.closeOnce.Do(func() {
		for _, e := range s.ends {
			if e.master != nil {
				e.master.Close()
			}
		}
		s.wg.Wait()
		for _, e := range s.ends {
			if e.slave != nil {
				e.slave.Close()
			}
		}
	})
}
