package media

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/linuxha/heartbeat/internal/engine"
)

// udpConfig is one UDP medium: the ucast and bcast lines of one interface
// and port (IPv4), the ucast6 lines of one interface and port, or one
// mcast/mcast6 line.
type udpConfig struct {
	kind  Kind // Ucast (with or without bcast), Ucast6, Mcast, Mcast6
	v6    bool
	dev   string
	port  int
	peers []netip.Addr
	bcast bool
	group netip.Addr
	ttl   int
	loop  bool
	first Spec // the first line, for errors
	key   string
}

// groupUDP merges specs into media configurations, in order of first
// appearance, and drops unicast peers that are our own addresses.
func groupUDP(specs []Spec, own map[netip.Addr]struct{}, config string, log *slog.Logger) ([]*udpConfig, error) {
	var (
		out   []*udpConfig
		byKey = map[string]*udpConfig{}
		errs  []error
	)
	bad := func(s Spec, format string, args ...any) {
		errs = append(errs, &SpecError{Config: config, Line: s.Line, Spec: s.String(), Err: fmt.Errorf(format, args...)})
	}
	for _, s := range specs {
		c := &udpConfig{dev: s.Dev, port: s.port(), first: s, key: ReceiveSocketKey(s)}
		if s.Dev == "" {
			bad(s, "no interface")
			continue
		}
		switch s.Kind {
		case Bcast:
			c.kind, c.bcast = Ucast, true
		case Ucast, Ucast6:
			c.kind, c.v6 = s.Kind, s.Kind == Ucast6
			for _, p := range s.Peers {
				p = p.Unmap()
				if p.Is4() == c.v6 || !p.IsValid() {
					bad(s, "peer %s is not an ipv%d address", p, ipv(c.v6))
					continue
				}
				if _, ok := own[p.WithZone("")]; ok {
					log.Debug("ucast line names a local address, skipped", "medium", s.Dev, "peer", p)
					continue
				}
				c.peers = append(c.peers, p.WithZone(""))
			}
			if len(c.peers) == 0 {
				continue
			}
		case Mcast, Mcast6:
			c.kind, c.v6 = s.Kind, s.Kind == Mcast6
			c.group, c.ttl, c.loop = s.Group, s.TTL, s.Loop
			if !s.Group.IsMulticast() || s.Group.Is4() == c.v6 {
				bad(s, "%s is not an ipv%d multicast group", s.Group, ipv(c.v6))
				continue
			}
		default:
			bad(s, "unknown medium kind")
			continue
		}
		if prev, ok := byKey[c.key]; ok {
			prev.peers = append(prev.peers, c.peers...)
			prev.bcast = prev.bcast || c.bcast
			continue
		}
		byKey[c.key] = c
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

func ipv(v6 bool) int {
	if v6 {
		return 6
	}
	return 4
}

func openUDP(specs []Spec, opts Options) ([]engine.Medium, error) {
	log := opts.logger()
	ns, err := currentNS()
	if err != nil {
		return nil, err
	}
	defer ns.close()
	nl, err := netlink.NewHandleAt(ns.ns)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	own, err := ownAddrs(nl, opts.LocalAddrs)
	nl.Close()
	if err != nil {
		return nil, err
	}
	cfgs, err := groupUDP(specs, own, opts.ConfigName, log)
	if err != nil {
		return nil, err
	}
	var (
		out  []engine.Medium
		errs []error
	)
	for _, c := range cfgs {
		m, err := newUDPMedium(c, opts)
		if err != nil {
			errs = append(errs, &SpecError{Config: opts.ConfigName, Line: c.first.Line, Spec: c.first.String(), Err: err})
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// udpMedium is a UDP medium. A monitor goroutine checks the interface (one
// link and one address dump) when the kernel reports a link or address
// change (linkWatch), every retry interval while the medium is down or the
// reports are unavailable, and every backstopInterval otherwise; it
// rebinds when the interface disappears, goes down, changes index or
// primary address. One receiver goroutine per socket generation delivers
// packets.
type udpMedium struct {
	cfg   *udpConfig
	ns    nsRunner
	nl    *netlink.Handle
	log   *slog.Logger
	retry time.Duration
	watch *linkWatch // nil: no change reports, poll every retry
	// watching is set while watchLinks receives the reports.
	watching atomic.Bool
	extra    []netip.Addr
	own      atomic.Pointer[map[netip.Addr]struct{}]

	packets chan engine.Packet
	kick    chan struct{}
	revive  chan netip.Addr // a ucast peer heard again after a silence
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	mu   sync.Mutex
	st   *udpState // nil while down
	down error     // why, while down
}

// udpState is one generation of sockets.
type udpState struct {
	info    ifaceInfo
	recv    *net.UDPConn
	conns   []*net.UDPConn // send sockets
	targets []sendTarget
}

type sendTarget struct {
	conn *net.UDPConn
	raw  *rawSender // on conn
	dst  netip.AddrPort
	sa   rawSockaddr // dst
}

func (s *udpState) close() {
	if s.recv != nil {
		_ = s.recv.Close()
	}
	for _, c := range s.conns {
		_ = c.Close()
	}
}

func newUDPMedium(c *udpConfig, opts Options) (*udpMedium, error) {
	ns, err := currentNS()
	if err != nil {
		return nil, err
	}
	nl, err := netlink.NewHandleAt(ns.ns)
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("netlink: %w", err)
	}
	m := &udpMedium{
		cfg:     c,
		ns:      ns,
		nl:      nl,
		log:     opts.logger().With("medium", c.dev),
		retry:   opts.retry(),
		extra:   opts.LocalAddrs,
		packets: make(chan engine.Packet, 64),
		kick:    make(chan struct{}, 1),
		revive:  make(chan netip.Addr, 4),
		done:    make(chan struct{}),
	}
	// Subscribed before the first look at the interface: no change
	// between the two goes unnoticed.
	if w, err := openLinkWatch(ns); err == nil {
		m.watch = w
	} else {
		m.log.Warn("no link change reports, checking the interface every retry", "retry", m.retry, "err", err)
	}
	fail := func(err error) (*udpMedium, error) {
		if m.watch != nil {
			m.watch.close()
		}
		nl.Close()
		ns.close()
		return nil, err
	}
	if err := m.refreshOwn(); err != nil {
		return fail(err)
	}
	info, err := m.resolve(netip.Addr{})
	if err != nil {
		return fail(err)
	}
	st, err := m.open(info, opts.Sockets[c.key])
	if err != nil {
		return fail(err)
	}
	m.st = st
	if m.watch != nil {
		m.watching.Store(true)
		m.wg.Add(1)
		go m.watchLinks(m.watch)
	}
	m.wg.Add(2)
	go m.receive(st)
	go m.monitor()
	m.log.Info("udp medium open", "kind", c.kind.String(), "src", info.src, "port", c.port)
	return m, nil
}

// Name returns the interface name.
func (m *udpMedium) Name() string { return m.cfg.dev }

// Packets delivers received datagrams, each in a freshly allocated slice.
func (m *udpMedium) Packets() <-chan engine.Packet { return m.packets }

// Send sends b to every destination of the medium. It does not allocate
// unless it fails; a failure to one destination does not stop the others.
func (m *udpMedium) Send(b []byte) error {
	m.mu.Lock()
	st, down := m.st, m.down
	m.mu.Unlock()
	if st == nil {
		return fmt.Errorf("%s: %w: %w", m.cfg.dev, ErrDown, down)
	}
	var first error
	failed := 0
	for i := range st.targets {
		t := &st.targets[i]
		if err := t.raw.sendTo(b, &t.sa, t.dst); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if first == nil {
		return nil
	}
	m.kickMonitor()
	return fmt.Errorf("%s: %d of %d destinations failed: %w", m.cfg.dev, failed, len(st.targets), first)
}

// Close stops the medium and closes Packets.
func (m *udpMedium) Close() error {
	m.once.Do(func() {
		close(m.done)
		m.mu.Lock()
		st := m.st
		m.st, m.down = nil, net.ErrClosed
		m.mu.Unlock()
		if st != nil {
			st.close()
		}
		if m.watch != nil {
			m.watch.close()
		}
		m.wg.Wait()
		close(m.packets)
		m.nl.Close()
		m.ns.close()
	})
	return nil
}

func (m *udpMedium) wantLL() bool {
	switch m.cfg.kind {
	case Ucast6:
		return len(m.cfg.peers) > 0 && m.cfg.peers[0].IsLinkLocalUnicast()
	case Mcast6:
		return m.cfg.group.IsLinkLocalMulticast() || m.cfg.group.IsInterfaceLocalMulticast()
	}
	return false
}

// resolve reads the interface; keep is the source address in use, if any.
func (m *udpMedium) resolve(keep netip.Addr) (ifaceInfo, error) {
	info, err := resolveIface(m.nl, m.cfg.dev, m.cfg.v6, m.wantLL(), keep)
	if err == nil && !m.cfg.bcast {
		info.bcast = netip.Addr{} // not used: do not rebind when it changes
	}
	return info, err
}

func (m *udpMedium) refreshOwn() error {
	own, err := ownAddrs(m.nl, m.extra)
	if err != nil {
		return err
	}
	m.own.Store(&own)
	return nil
}

func (m *udpMedium) isOwn(a netip.Addr) bool {
	own := m.own.Load()
	if own == nil {
		return false
	}
	_, ok := (*own)[a.Unmap().WithZone("")]
	return ok
}

// open binds a generation of sockets; pre, if not nil, is the receive socket.
func (m *udpMedium) open(info ifaceInfo, pre *os.File) (*udpState, error) {
	c := m.cfg
	st := &udpState{info: info}
	err := m.ns.do(func() error {
		unspec := netip.IPv4Unspecified()
		if c.v6 {
			unspec = netip.IPv6Unspecified()
		}
		if pre != nil {
			pc, err := net.FilePacketConn(pre)
			_ = pre.Close()
			if err != nil {
				return fmt.Errorf("inherited socket %s: %w", c.key, err)
			}
			u, ok := pc.(*net.UDPConn)
			if !ok {
				_ = pc.Close()
				return fmt.Errorf("inherited socket %s is not udp", c.key)
			}
			st.recv = u
		} else {
			ro := sockOpts{v6: c.v6, dev: c.dev, ifindex: info.index, bind: netip.AddrPortFrom(unspec, uint16(c.port))}
			if c.group.IsValid() {
				ro.bind = netip.AddrPortFrom(c.group, uint16(c.port))
				ro.join = c.group
			}
			r, err := udpSocket(ro)
			if err != nil {
				return fmt.Errorf("receive socket: %w", err)
			}
			st.recv = r
		}
		send := func(o sockOpts, dsts ...netip.Addr) error {
			o.v6, o.dev, o.ifindex = c.v6, c.dev, info.index
			o.bind = netip.AddrPortFrom(info.src, 0)
			s, err := udpSocket(o)
			if err != nil {
				return fmt.Errorf("send socket: %w", err)
			}
			st.conns = append(st.conns, s)
			rc, err := s.SyscallConn()
			if err != nil {
				return fmt.Errorf("send socket: %w", err)
			}
			raw := newRawSender(rc)
			for _, d := range dsts {
				dst := netip.AddrPortFrom(d, uint16(c.port))
				sa, err := toRawSockaddr(dst, c.v6)
				if err != nil {
					return fmt.Errorf("send socket: %w", err)
				}
				st.targets = append(st.targets, sendTarget{conn: s, raw: raw, dst: dst, sa: sa})
			}
			return nil
		}
		if len(c.peers) > 0 {
			if err := send(sockOpts{tos: iptosLowDelay}, c.peers...); err != nil {
				return err
			}
		}
		if c.bcast {
			if err := send(sockOpts{broadcast: true}, info.bcast); err != nil {
				return err
			}
		}
		if c.group.IsValid() {
			if err := send(sockOpts{mcastOut: true, ttl: c.ttl, loop: c.loop}, c.group); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

func (m *udpMedium) receive(st *udpState) {
	defer m.wg.Done()
	buf := make([]byte, MaxDatagram)
	rc, err := st.recv.SyscallConn()
	if err != nil {
		m.markDown(st, fmt.Errorf("receive: %w", err))
		return
	}
	zone := func(id uint32) string {
		if int(id) == st.info.index {
			return m.cfg.dev
		}
		return strconv.FormatUint(uint64(id), 10)
	}
	raw := newRawReceiver(rc, buf, zone)
	heard := make([]time.Time, len(m.cfg.peers)) // last packet from each ucast peer
	var lastFrom netip.AddrPort                  // the sender's address as text, kept:
	var lastFromText string                      // peers send from one address
	for {
		n, from, err := raw.recvFrom()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				m.markDown(st, fmt.Errorf("receive: %w", err))
			}
			return
		}
		if m.isOwn(from.Addr()) {
			continue
		}
		if from != lastFrom || lastFromText == "" {
			lastFrom, lastFromText = from, from.String()
		}
		p := engine.Packet{Data: bytes.Clone(buf[:n]), From: lastFromText, At: time.Now()}
		if len(heard) > 0 {
			m.noteHeard(heard, from.Addr(), p.At)
		}
		select {
		case m.packets <- p:
		case <-m.done:
			return
		}
	}
}

// reviveGap is the silence of a ucast peer after which its first packet
// makes the monitor look at the peer's neighbour entry (reprobe).
const reviveGap = 250 * time.Millisecond

// noteHeard records a packet from a ucast peer; the first one after a
// silence of reviveGap or more (or ever) asks the monitor to reprobe it.
func (m *udpMedium) noteHeard(heard []time.Time, from netip.Addr, at time.Time) {
	from = from.WithZone("").Unmap()
	for i, pa := range m.cfg.peers {
		if pa.WithZone("") != from {
			continue
		}
		if heard[i].IsZero() || at.Sub(heard[i]) >= reviveGap {
			select {
			case m.revive <- pa:
			default:
			}
		}
		heard[i] = at
		return
	}
}

// reprobe makes the kernel resolve a peer's link-layer address again at
// once when its neighbour entry is unresolved. While a peer was away, the
// ARP/ND entry we send through went INCOMPLETE or FAILED, and the kernel
// probes it again only after its retransmit time (1 s by default), so our
// heartbeats would not reach a peer that we already hear. Deleting the
// entry makes the next heartbeat start a fresh resolution with an
// immediate probe.
func (m *udpMedium) reprobe(peer netip.Addr) {
	m.mu.Lock()
	st := m.st
	m.mu.Unlock()
	if st == nil {
		return
	}
	fam := netlink.FAMILY_V4
	if m.cfg.v6 {
		fam = netlink.FAMILY_V6
	}
	ns, err := m.nl.NeighList(st.info.index, fam)
	if err != nil {
		m.log.Debug("neighbour list", "err", err)
		return
	}
	for i := range ns {
		n := &ns[i]
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || ip.Unmap() != peer.WithZone("").Unmap() || n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 {
			continue
		}
		if err := m.nl.NeighDel(n); err != nil {
			m.log.Debug("neighbour entry not reset", "peer", peer, "err", err)
			return
		}
		m.log.Info("peer heard again: its unresolved neighbour entry is reset", "peer", peer)
		return
	}
}

// markDown retires st (if still current) and logs once.
func (m *udpMedium) markDown(st *udpState, err error) {
	m.mu.Lock()
	if m.st != st || m.st == nil {
		m.mu.Unlock()
		return
	}
	m.st, m.down = nil, err
	m.mu.Unlock()
	st.close()
	m.log.Warn("udp medium down, reopening", "err", err)
	// The monitor may be asleep until the backstop: a receive error with no
	// link or address report behind it must still be retried every retry.
	m.kickMonitor()
}

// kickMonitor makes the monitor check now (or soon after a check under
// way); kicks merge.
func (m *udpMedium) kickMonitor() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// backstopInterval is how often a medium that is up checks its interface
// although the kernel reported no change: in case a report was lost in a
// way the socket did not signal.
const backstopInterval = 30 * time.Second

func (m *udpMedium) monitor() {
	defer m.wg.Done()
	t := time.NewTimer(m.nextCheck())
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
		case <-m.kick:
		case p := <-m.revive:
			m.reprobe(p)
			continue
		}
		m.check()
		t.Reset(m.nextCheck())
	}
}

// nextCheck is the delay until the next check without a report.
func (m *udpMedium) nextCheck() time.Duration {
	m.mu.Lock()
	up := m.st != nil
	m.mu.Unlock()
	if up && m.watching.Load() {
		return max(backstopInterval, m.retry)
	}
	return m.retry
}

// watchLinks kicks the monitor on every change report. If the reports
// fail, the monitor goes back to checking every retry interval.
func (m *udpMedium) watchLinks(w *linkWatch) {
	defer m.wg.Done()
	buf := make([]byte, 16<<10)
	for {
		err := w.wait(buf)
		if err != nil {
			m.watching.Store(false)
			if !m.isClosed() {
				m.log.Warn("link change reports failed, checking the interface every retry", "retry", m.retry, "err", err)
			}
		}
		m.kickMonitor()
		if err != nil {
			return
		}
	}
}

// check compares the interface with the current sockets and reopens.
func (m *udpMedium) check() {
	if err := m.refreshOwn(); err != nil {
		m.log.Debug("refresh local addresses", "err", err)
	}
	m.mu.Lock()
	st := m.st
	m.mu.Unlock()
	var keep netip.Addr
	if st != nil {
		keep = st.info.src
	}
	info, err := m.resolve(keep)
	if st != nil {
		if err == nil && info == st.info {
			return
		}
		if err == nil {
			err = errors.New("interface index or primary address changed")
		}
		m.markDown(st, err)
	}
	if err != nil {
		m.mu.Lock()
		if m.st == nil && !m.isClosed() {
			m.down = err
		}
		m.mu.Unlock()
		return
	}
	nst, err := m.open(info, nil)
	if err != nil {
		m.mu.Lock()
		if !m.isClosed() {
			m.down = err
		}
		m.mu.Unlock()
		m.log.Debug("udp medium reopen failed", "err", err)
		return
	}
	m.mu.Lock()
	if m.isClosed() {
		m.mu.Unlock()
		nst.close()
		return
	}
	m.st, m.down = nst, nil
	m.wg.Add(1)
	m.mu.Unlock()
	go m.receive(nst)
	m.log.Info("udp medium up", "src", info.src)
}

func (m *udpMedium) isClosed() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}
