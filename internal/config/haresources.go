package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParseHaresources parses the content of a haresources file: one group per
// logical line ("node res1 res2 ..."), "\" at the end of a line continuing
// it, "#" starting a comment. Node names are lower-cased; whether they are
// declared nodes is checked by Config.Validate. The error joins one *Error
// per problem.
func ParseHaresources(path string, data []byte) ([]Group, error) {
	d := diag{path: path}
	var groups []Group
	keys := map[string]int{}

	var logical strings.Builder
	start := 0
	lines := bytes.Split(data, []byte("\n"))
	for i, raw := range lines {
		s := string(raw)
		if j := strings.IndexByte(s, '#'); j >= 0 {
			s = s[:j]
		}
		s = strings.TrimSuffix(s, "\r")
		if start == 0 {
			start = i + 1
		}
		if strings.HasSuffix(s, "\\") && i < len(lines)-1 {
			logical.WriteString(s[:len(s)-1])
			logical.WriteByte(' ')
			continue
		}
		logical.WriteString(s)
		g, ok := parseGroup(&d, start, logical.String())
		logical.Reset()
		first := start
		start = 0
		if !ok {
			continue
		}
		if prev, dup := keys[g.Key()]; dup {
			d.errorf(first, "resource group %q defined twice (first at line %d); the first resource of each line must be unique", g.Key(), prev)
			continue
		}
		keys[g.Key()] = first
		groups = append(groups, g)
	}
	sortErrors(d.errs)
	return groups, join(d.errs)
}

// parseGroup parses one logical line; ok is false for blank lines and errors.
func parseGroup(d *diag, line int, s string) (Group, bool) {
	toks := fields(s, whitespace)
	if len(toks) == 0 {
		return Group{}, false
	}
	g := Group{Node: strings.ToLower(toks[0]), Line: line}
	if len(toks) == 1 {
		d.errorf(line, "node %q has no resources", toks[0])
		return Group{}, false
	}
	ok := true
	for _, t := range toks[1:] {
		r, err := ParseResource(t)
		if err != nil {
			d.errorf(line, "%v", err)
			ok = false
			continue
		}
		g.Resources = append(g.Resources, r)
	}
	return g, ok
}

// ParseResource parses one haresources resource token: "name",
// "name::arg1::arg2", a bare IPv4 address (optionally "ip/bits/iface/bcast",
// shorthand for IPaddr::token), a bare IPv6 address (optionally
// "ip/bits/iface", shorthand for IPv6addr::token), or IPaddr::, IPaddr2::,
// IPv6addr:: with an address argument. IPaddr and IPaddr2 take an IPv4 or
// an IPv6 address (IPv6 as addr[/bits[/iface]], as resource-agents'
// IPaddr2 does). The argument of IPv6addr, and that of IPaddr and IPaddr2
// when it starts with an IPv6 address, is kept whole: splitting it on "::"
// would break the address.
func ParseResource(tok string) (Resource, error) {
	r := Resource{Token: tok}
	if tok == "\\" {
		return r, fmt.Errorf("stray %q: a continuation must end the line", tok)
	}
	base, _, _ := strings.Cut(tok, "/")
	if a, err := netip.ParseAddr(base); err == nil {
		if a.Zone() != "" {
			return r, fmt.Errorf("resource %q: an address resource takes no %%zone", tok)
		}
		if a.Is4() {
			v, err := parseVIP4("IPaddr", tok)
			if err != nil {
				return r, fmt.Errorf("resource %q: %w", tok, err)
			}
			r.Name, r.Args, r.VIP = "IPaddr", []string{tok}, v
			return r, nil
		}
		v, err := parseVIP6("IPv6addr", tok)
		if err != nil {
			return r, fmt.Errorf("resource %q: %w", tok, err)
		}
		r.Name, r.Args, r.VIP = "IPv6addr", []string{tok}, v
		return r, nil
	}
	if isIPGlob(tok) {
		return r, fmt.Errorf("resource %q: bad IPv4 address", tok)
	}
	name, rest, hasArgs := strings.Cut(tok, "::")
	if name == "" || strings.ContainsAny(name, "/:") {
		return r, fmt.Errorf("resource %q: bad resource script name %q", tok, name)
	}
	r.Name = name
	if !hasArgs {
		return r, nil
	}
	ipaddr := name == "IPaddr" || name == "IPaddr2"
	v6 := ipaddr && startsWithIPv6(rest)
	if name == "IPv6addr" || v6 {
		r.Args = []string{rest}
	} else {
		r.Args = strings.Split(rest, "::")
	}
	for _, a := range r.Args {
		if a == "" {
			return r, fmt.Errorf("resource %q: empty argument", tok)
		}
	}
	var err error
	switch {
	case v6:
		// "::" after the address, other than in an address (a misplaced
		// broadcast, reported by parseVIP6), separates a second argument
		for _, f := range strings.Split(rest, "/")[1:] {
			if _, err := netip.ParseAddr(f); err != nil && strings.Contains(f, "::") {
				return r, fmt.Errorf("resource %q: %s takes one argument, addr[/bits[/interface]] for IPv6", tok, name)
			}
		}
		r.VIP, err = parseVIP6(name, r.Args[0])
	case ipaddr:
		if len(r.Args) != 1 {
			return r, fmt.Errorf("resource %q: %s takes one argument, ip[/bits[/interface][/broadcast]]", tok, name)
		}
		r.VIP, err = parseVIP4(name, r.Args[0])
	case name == "IPv6addr":
		r.VIP, err = parseVIP6(name, r.Args[0])
	}
	if err != nil {
		return r, fmt.Errorf("resource %q: %w", tok, err)
	}
	return r, nil
}

// startsWithIPv6 reports whether s, up to its first "/", is an IPv6
// address (with or without a zone, which parseVIP6 then rejects).
func startsWithIPv6(s string) bool {
	base, _, _ := strings.Cut(s, "/")
	a, err := netip.ParseAddr(base)
	return err == nil && a.Is6()
}

// isIPGlob matches ResourceManager's isip pattern [0-9]*.[0-9]*.[0-9]*.[0-9]*:
// such tokens are meant as addresses even when malformed.
func isIPGlob(tok string) bool {
	return tok != "" && tok[0] >= '0' && tok[0] <= '9' && strings.Count(tok, ".") >= 3 && !strings.Contains(tok, "::")
}

// parseVIP4 parses ip[/bits[/interface][/broadcast]] (bits may also be a
// dotted netmask).
func parseVIP4(agent, s string) (*VIP, error) {
	parts := strings.Split(s, "/")
	if len(parts) > 4 {
		return nil, fmt.Errorf("too many fields in %q (want ip[/bits[/interface][/broadcast]])", s)
	}
	a, err := netip.ParseAddr(parts[0])
	if err != nil || !a.Is4() {
		return nil, fmt.Errorf("bad IPv4 address %q", parts[0])
	}
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return nil, fmt.Errorf("%s is not a unicast address", a)
	}
	v := &VIP{Agent: agent, Addr: a}
	if len(parts) > 1 {
		if v.Bits, err = parseBits4(parts[1]); err != nil {
			return nil, err
		}
	}
	if len(parts) > 2 {
		if b, err := netip.ParseAddr(parts[2]); err == nil {
			if !b.Is4() || len(parts) > 3 {
				return nil, fmt.Errorf("bad field %q", parts[2])
			}
			v.Broadcast = b
		} else {
			if !validIfname(parts[2]) {
				return nil, fmt.Errorf("bad interface name %q", parts[2])
			}
			v.Iface = parts[2]
		}
	}
	if len(parts) > 3 {
		b, err := netip.ParseAddr(parts[3])
		if err != nil || !b.Is4() {
			return nil, fmt.Errorf("bad broadcast address %q", parts[3])
		}
		v.Broadcast = b
	}
	return v, nil
}

func parseBits4(s string) (int, error) {
	if m, err := netip.ParseAddr(s); err == nil && m.Is4() {
		b := m.As4()
		n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		ones := 0
		for n&0x80000000 != 0 {
			ones++
			n <<= 1
		}
		if n != 0 || ones == 0 {
			return 0, fmt.Errorf("bad netmask %q", s)
		}
		return ones, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 32 {
		return 0, fmt.Errorf("bad prefix length %q (want 1..32)", s)
	}
	return n, nil
}

// parseVIP6 parses addr[/bits[/interface]] for agent. An IPv6 address has
// no broadcast address: an address where IPaddr's syntax puts the broadcast
// (the third field, or for IPaddr and IPaddr2 the fourth) is an error. So is
// a link-local address without an interface for IPaddr and IPaddr2, as in
// resource-agents' findif.
func parseVIP6(agent, s string) (*VIP, error) {
	parts := strings.Split(s, "/")
	ipaddr := agent == "IPaddr" || agent == "IPaddr2"
	if len(parts) > 4 || len(parts) == 4 && !ipaddr {
		return nil, fmt.Errorf("too many fields in %q (want addr[/bits[/interface]])", s)
	}
	a, err := netip.ParseAddr(parts[0])
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return nil, fmt.Errorf("bad IPv6 address %q", parts[0])
	}
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
		return nil, fmt.Errorf("%s is not a unicast address", a)
	}
	v := &VIP{Agent: agent, Addr: a}
	if len(parts) > 1 {
		n, err := strconv.Atoi(parts[1])
		if err != nil || n < 1 || n > 128 {
			return nil, fmt.Errorf("bad prefix length %q (want 1..128)", parts[1])
		}
		v.Bits = n
	}
	if len(parts) > 2 {
		if _, err := netip.ParseAddr(parts[2]); err == nil {
			return nil, fmt.Errorf("broadcast %q given for IPv6 address %s: IPv6 has no broadcast (want addr[/bits[/interface]])", parts[2], a)
		}
		if !validIfname(parts[2]) {
			return nil, fmt.Errorf("bad interface name %q", parts[2])
		}
		v.Iface = parts[2]
	}
	if len(parts) > 3 {
		return nil, fmt.Errorf("broadcast %q given for IPv6 address %s: IPv6 has no broadcast (want addr[/bits[/interface]])", parts[3], a)
	}
	if ipaddr && v.Iface == "" && a.IsLinkLocalUnicast() {
		return nil, fmt.Errorf("link-local address %s needs an interface (want addr/bits/interface)", a)
	}
	return v, nil
}
