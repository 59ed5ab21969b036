package vip

import (
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// announce sends the first burst at once and schedules Count-1 more every
// Interval in the background, replacing any earlier schedule.
func (a *Agent) announce(p *placement) {
	a.cancelAnnouncements()
	attrs := p.link.Attrs()
	mac := attrs.HardwareAddr
	if len(mac) != 6 {
		a.log.Info("no ethernet address, not announcing", "link", attrs.Name)
		return
	}
	frames, proto, dst := a.frames(mac)
	s, err := openSender(attrs.Index, proto, dst)
	if err != nil {
		a.log.Warn("cannot announce address", "link", attrs.Name, "err", err)
		return
	}
	if err := s.send(frames); err != nil {
		a.log.Warn("announcement failed", "link", attrs.Name, "err", err)
	}
	if a.opts.Count <= 1 {
		s.close()
		return
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	a.mu.Lock()
	a.stopAnno = func() { close(stop) }
	a.annoDone = done
	a.mu.Unlock()
	go func() {
		defer close(done)
		defer s.close()
		t := time.NewTicker(a.opts.Interval)
		defer t.Stop()
		for i := 1; i < a.opts.Count; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if err := s.send(frames); err != nil {
				a.log.Warn("announcement failed", "link", attrs.Name, "err", err)
			}
		}
		a.log.Debug("announcements sent", "link", attrs.Name, "count", a.opts.Count)
	}()
}

// frames returns the announcement frames for the address, their EtherType
// and destination MAC.
func (a *Agent) frames(mac net.HardwareAddr) ([][]byte, uint16, net.HardwareAddr) {
	if a.spec.Addr.Is4() {
		return [][]byte{
			arpFrame(mac, a.spec.Addr, arpRequest),
			arpFrame(mac, a.spec.Addr, arpReply),
		}, etherTypeARP, ethBroadcast
	}
	return [][]byte{naFrame(mac, a.spec.Addr)}, etherTypeIPv6, allNodesMAC
}

func (a *Agent) cancelAnnouncements() {
	a.mu.Lock()
	stop, done := a.stopAnno, a.annoDone
	a.stopAnno, a.annoDone = nil, nil
	a.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// sender writes complete Ethernet frames to one interface.
type sender struct {
	fd int
	to unix.SockaddrLinklayer
}

// openSender opens a send-only raw packet socket (protocol 0: it receives
// nothing) for interface ifindex.
func openSender(ifindex int, proto uint16, dst net.HardwareAddr) (*sender, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("raw packet socket: %w", err)
	}
	s := &sender{fd: fd, to: unix.SockaddrLinklayer{
		Protocol: htons(proto),
		Ifindex:  ifindex,
		Halen:    uint8(len(dst)),
	}}
	copy(s.to.Addr[:], dst)
	return s, nil
}

func (s *sender) send(frames [][]byte) error {
	for _, f := range frames {
		if err := unix.Sendto(s.fd, f, 0, &s.to); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	return nil
}

func (s *sender) close() { unix.Close(s.fd) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }
