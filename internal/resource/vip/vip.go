// Package vip implements the IPaddr, IPaddr2 and IPv6addr resources: a
// virtual address added to an interface with netlink and announced to the
// segment, without running any external command.
//
// A missing interface or prefix length is taken from the lowest-metric
// connected route to the address in the main routing table, as Heartbeat's
// findif does (see chooseRoute); a missing IPv4 broadcast is the highest
// address of the subnet. IPv4 addresses are added without a label (the
// kernel makes them secondary when the subnet already has a primary
// address); IPv6 addresses are added with IFA_F_NODAD so they can be bound
// at once.
//
// Announcements: IPv4 sends a gratuitous ARP request and reply, IPv6 an
// unsolicited neighbour advertisement with the override flag, the first
// burst right after the address is added and then Count-1 more every
// Interval in the background (Stop cancels them). Frames are written to a
// raw AF_PACKET socket opened by Start, so Start must run in the network
// namespace that owns the interface; so must Stop and Status, which use
// netlink.
package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/linuxha/heartbeat/internal/resource"
)

// Announcement defaults: five bursts 200 ms apart, so the segment has heard
// about the address move within a second even if a frame or two is lost.
const (
	DefaultCount    = 5
	DefaultInterval = 200 * time.Millisecond
)

// Spec describes the address. Zero Bits, empty Iface and an invalid
// Broadcast are derived.
type Spec struct {
	Addr      netip.Addr
	Bits      int
	Iface     string
	Broadcast netip.Addr
}

// Options tune an Agent. Zero values take the defaults.
type Options struct {
	Count    int           // announcements per Start (DefaultCount)
	Interval time.Duration // between announcements (DefaultInterval)
	Logger   *slog.Logger  // nil discards
}

// Agent is the VIP resource agent. It implements resource.Agent.
type Agent struct {
	token string
	spec  Spec
	opts  Options
	log   *slog.Logger

	mu       sync.Mutex
	stopAnno func()        // cancels the background announcements
	annoDone chan struct{} // closed when they have ended
}

var _ resource.Agent = (*Agent)(nil)

// placement is a resolved address: interface, prefix and broadcast.
type placement struct {
	link   netlink.Link
	prefix netip.Prefix // Addr with its prefix length (not masked)
	brd    netip.Addr
}

// New checks spec and returns an agent for it; nothing is touched yet.
func New(token string, spec Spec, opts Options) (*Agent, error) {
	a := spec.Addr
	switch {
	case !a.IsValid():
		return nil, fmt.Errorf("vip %q: no address", token)
	case a.Zone() != "":
		return nil, fmt.Errorf("vip %q: address %s has a zone", token, a)
	case a.Is4In6():
		return nil, fmt.Errorf("vip %q: ipv4-mapped address %s", token, a)
	case spec.Bits < 0 || spec.Bits > a.BitLen():
		return nil, fmt.Errorf("vip %q: prefix length %d out of range", token, spec.Bits)
	case spec.Broadcast.IsValid() && (!a.Is4() || !spec.Broadcast.Is4()):
		return nil, fmt.Errorf("vip %q: broadcast %s is only valid with an ipv4 address", token, spec.Broadcast)
	}
	if opts.Count <= 0 {
		opts.Count = DefaultCount
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{token: token, spec: spec, opts: opts,
		log: log.With("resource", token, "vip", a.String())}, nil
}

// Token returns the haresources token.
func (a *Agent) Token() string { return a.token }

// Spec returns the address as configured (before anything is derived).
func (a *Agent) Spec() Spec { return a.spec }

// Start adds the address unless it is present, then announces it (also when
// it was already present). A failed announcement is logged, not returned:
// the address is in place and the next bursts may get through.
func (a *Agent) Start(ctx context.Context) error {
	p, present, err := a.place()
	if err != nil {
		return err
	}
	if present {
		a.log.Info("address already present, announcing again", "link", p.link.Attrs().Name)
	} else {
		na := &netlink.Addr{IPNet: ipNet(p.prefix)}
		if p.brd.IsValid() {
			na.Broadcast = p.brd.AsSlice()
		}
		if a.spec.Addr.Is6() {
			na.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(p.link, na); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("vip %s: add to %s: %w", p.prefix, p.link.Attrs().Name, err)
		}
		a.log.Info("address added", "link", p.link.Attrs().Name, "prefix", p.prefix.String())
	}
	a.announce(p)
	return nil
}

// place finds where the address goes (resolve) and whether it is there.
func (a *Agent) place() (*placement, bool, error) {
	p, err := a.resolve()
	if err != nil {
		return nil, false, err
	}
	present, err := hasAddr(p.link, a.spec.Addr)
	if err != nil {
		return nil, false, fmt.Errorf("vip %s: %w", a.spec.Addr, err)
	}
	return p, present, nil
}

// Reannounce announces the address again if it is on its interface, and
// does nothing if it is not: unlike Start, it never adds it. The engine
// re-announces a held group after a split brain heals; if the group was
// released meanwhile, adding the address back would make a second owner.
func (a *Agent) Reannounce(ctx context.Context) error {
	p, present, err := a.place()
	if err != nil {
		return err
	}
	if !present {
		a.log.Info("address not present, not announcing it", "link", p.link.Attrs().Name)
		return nil
	}
	a.announce(p)
	return nil
}

// Stop cancels pending announcements and removes the address; an absent
// address is not an error.
func (a *Agent) Stop(ctx context.Context) error {
	a.cancelAnnouncements()
	link, bits, err := a.locate()
	if err != nil {
		return err
	}
	if link == nil {
		return nil
	}
	na := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a.spec.Addr, bits))}
	if err := netlink.AddrDel(link, na); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("vip %s: remove from %s: %w", a.spec.Addr, link.Attrs().Name, err)
	}
	a.log.Info("address removed", "link", link.Attrs().Name)
	return nil
}

// Status is Running when the address is on its interface (on any interface
// when none was configured), Stopped otherwise.
func (a *Agent) Status(ctx context.Context) (resource.State, error) {
	link, _, err := a.locate()
	if err != nil {
		return resource.Unknown, err
	}
	if link == nil {
		return resource.Stopped, nil
	}
	return resource.Running, nil
}

// Close cancels pending announcements and waits for them to end; the
// address stays.
func (a *Agent) Close() { a.cancelAnnouncements() }

// resolve finds interface, prefix length and broadcast for Start.
func (a *Agent) resolve() (*placement, error) {
	addr := a.spec.Addr
	var link netlink.Link
	if a.spec.Iface != "" {
		l, err := netlink.LinkByName(a.spec.Iface)
		if err != nil {
			return nil, fmt.Errorf("vip %s: interface %s: %w", addr, a.spec.Iface, err)
		}
		link = l
	}
	bits := a.spec.Bits
	if link == nil || bits == 0 {
		routes, err := connectedRoutes(addr)
		if err != nil {
			return nil, fmt.Errorf("vip %s: %w", addr, err)
		}
		idx := 0
		if link != nil {
			idx = link.Attrs().Index
		}
		r, ok := chooseRoute(routes, addr, idx)
		if !ok {
			if link == nil {
				return nil, fmt.Errorf("vip %s: unable to find an interface for %s", addr, addr)
			}
			return nil, fmt.Errorf("vip %s: no route on %s gives a prefix length for %s", addr, link.Attrs().Name, addr)
		}
		if link == nil {
			l, err := netlink.LinkByIndex(r.LinkIndex)
			if err != nil {
				return nil, fmt.Errorf("vip %s: interface %d: %w", addr, r.LinkIndex, err)
			}
			link = l
		}
		if bits == 0 {
			bits = r.Dst.Bits()
		}
		a.log.Debug("derived from route", "link", link.Attrs().Name, "route", r.Dst.String(), "bits", bits)
	}
	p := netip.PrefixFrom(addr, bits)
	brd := a.spec.Broadcast
	if !brd.IsValid() {
		brd = broadcastOf(p)
	}
	return &placement{link: link, prefix: p, brd: brd}, nil
}

// locate finds the interface that holds the address now and its prefix
// length: the configured interface only, or any interface when none was
// configured. A nil link means the address is absent.
func (a *Agent) locate() (netlink.Link, int, error) {
	var link netlink.Link
	if a.spec.Iface != "" {
		l, err := netlink.LinkByName(a.spec.Iface)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil, 0, nil // no interface, no address
			}
			return nil, 0, fmt.Errorf("vip %s: interface %s: %w", a.spec.Addr, a.spec.Iface, err)
		}
		link = l
	}
	addrs, err := netlink.AddrList(link, family(a.spec.Addr))
	if err != nil {
		return nil, 0, fmt.Errorf("vip %s: list addresses: %w", a.spec.Addr, err)
	}
	for _, ad := range addrs {
		if ip, ok := netip.AddrFromSlice(ad.IP); ok && ip.Unmap() == a.spec.Addr {
			bits, _ := ad.Mask.Size()
			if link == nil {
				l, err := netlink.LinkByIndex(ad.LinkIndex)
				if err != nil {
					return nil, 0, fmt.Errorf("vip %s: interface %d: %w", a.spec.Addr, ad.LinkIndex, err)
				}
				link = l
			}
			return link, bits, nil
		}
	}
	return nil, 0, nil
}

func hasAddr(link netlink.Link, addr netip.Addr) (bool, error) {
	addrs, err := netlink.AddrList(link, family(addr))
	if err != nil {
		return false, fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err)
	}
	for _, ad := range addrs {
		if ip, ok := netip.AddrFromSlice(ad.IP); ok && ip.Unmap() == addr {
			return true, nil
		}
	}
	return false, nil
}

// connectedRoutes reads the main routing table of addr's family.
func connectedRoutes(addr netip.Addr) ([]route, error) {
	nl, err := netlink.RouteListFiltered(family(addr),
		&netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	out := make([]route, 0, len(nl))
	for _, r := range nl {
		out = append(out, fromNetlink(r))
	}
	return out, nil
}

func fromNetlink(r netlink.Route) route {
	out := route{
		LinkIndex: r.LinkIndex,
		Gateway:   r.Gw != nil || len(r.MultiPath) > 0 || r.Via != nil,
		Priority:  r.Priority,
		Type:      r.Type,
	}
	if r.Dst != nil {
		if ip, ok := netip.AddrFromSlice(r.Dst.IP); ok {
			ones, _ := r.Dst.Mask.Size()
			out.Dst = netip.PrefixFrom(ip.Unmap(), ones)
		}
	}
	return out
}

func family(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
