package config

import (
	"net/netip"
	"time"
)

// AutoFailback is the auto_failback mode.
type AutoFailback int

// auto_failback values; Legacy is Heartbeat's (deprecated) default.
const (
	AutoFailbackLegacy AutoFailback = iota
	AutoFailbackOn
	AutoFailbackOff
)

func (a AutoFailback) String() string {
	switch a {
	case AutoFailbackOn:
		return "on"
	case AutoFailbackOff:
		return "off"
	}
	return "legacy"
}

// Autojoin is the autojoin mode; only AutojoinNone is valid with haresources.
type Autojoin int

// autojoin values.
const (
	AutojoinNone Autojoin = iota
	AutojoinOther
	AutojoinAny
)

func (a Autojoin) String() string {
	switch a {
	case AutojoinOther:
		return "other"
	case AutojoinAny:
		return "any"
	}
	return "none"
}

// MediumType is the kind of a heartbeat medium line.
type MediumType int

// Medium kinds, named after their ha.cf directive.
const (
	Bcast MediumType = iota + 1
	Mcast
	Ucast
	Mcast6
	Ucast6
	Serial
)

func (m MediumType) String() string {
	switch m {
	case Bcast:
		return "bcast"
	case Mcast:
		return "mcast"
	case Ucast:
		return "ucast"
	case Mcast6:
		return "mcast6"
	case Ucast6:
		return "ucast6"
	case Serial:
		return "serial"
	}
	return "unknown"
}

// Medium is one heartbeat medium. A "bcast eth0 eth1" line gives two media
// with the same Line.
type Medium struct {
	Type MediumType
	Line int    // line of ha.cf, for "path:line" diagnostics
	Dev  string // interface name, or serial device path

	// Port: the udpport in force when the line was read (bcast, ucast,
	// ucast6), or the port argument (mcast, mcast6).
	Port int
	// Group is the multicast group (mcast, mcast6).
	Group netip.Addr
	// TTL is the mcast ttl or the mcast6 hop limit.
	TTL int
	// Loop is the multicast loopback flag.
	Loop bool
	// Peer is the unicast peer (ucast, ucast6; ucast6 may carry a zone).
	Peer netip.Addr
	// PeerHost is set instead of Peer when a ucast peer is a host name; it
	// is resolved when the medium is opened (3.0.6 used gethostbyname).
	PeerHost string
	// Baud is the baud rate in force when a serial line was read.
	Baud int
}

// Name is the link name Heartbeat shows for this medium (cl_status
// listhblinks): the interface or the serial device.
func (m Medium) Name() string { return m.Dev }

// Host is an address given in ha.cf: an IP literal, or a host name kept
// unresolved (Addr invalid) for the daemon to resolve.
type Host struct {
	Addr netip.Addr
	Name string // original text
}

// PingNode is a "ping" or "ping6" address: an independent pseudo-member.
type PingNode struct {
	Host Host
	IPv6 bool // from a ping6 line
	Line int
}

// PingGroup is a "ping_group name addr..." pseudo-member, up while any of its
// addresses answers.
type PingGroup struct {
	Name  string
	Hosts []Host
	Line  int
}

// Child is a "respawn" or "failfast" line: a program started with heartbeat.
type Child struct {
	User     string
	Command  string // full command line, as given
	Path     string // first word of Command (absolute)
	Args     []string
	Failfast bool // reboot the node if the child dies
	Line     int
}

// APIAuth is an "apiauth client [uid=a,b] [gid=c,d]" line, or one of
// Heartbeat's built-in defaults (Line 0).
type APIAuth struct {
	Client string
	UIDs   []string
	GIDs   []string
	Line   int
}

// Stonith is a legacy "stonith type config-file" line.
type Stonith struct {
	Type       string
	ConfigFile string
	Line       int
}

// StonithHost is a legacy "stonith_host host type params..." line; Host is
// lower-cased and "*" means every node.
type StonithHost struct {
	Host   string
	Type   string
	Params string
	Line   int
}

// EnvVar is an "env NAME=value" line; respawned children get HA_NAME=value.
type EnvVar struct {
	Name  string
	Value string
	Line  int
}

// HaCf is the typed content of ha.cf, defaults and derived values applied.
type HaCf struct {
	Path string

	Nodes     []string // lower-cased, in file order
	Keepalive time.Duration
	Deadtime  time.Duration
	Warntime  time.Duration // deadtime/2 when unset
	Initdead  time.Duration // derived from deadtime when unset
	Deadping  time.Duration // deadtime when unset
	UDPPort   int           // last udpport value (694 by default)
	Baud      int
	Hopfudge  int

	Media       []Medium
	PingNodes   []PingNode
	PingGroups  []PingGroup
	HBAPing     []string
	Respawn     []Child // respawn and failfast, in file order
	APIAuth     []APIAuth
	Stonith     *Stonith
	StonithHost []StonithHost
	Env         []EnvVar

	AutoFailback AutoFailback
	Autojoin     Autojoin
	Watchdog     string
	Logfacility  string // "" unset
	Logfile      string
	Debugfile    string
	UseLogd      bool // explicit use_logd, or implied when nothing else logs
	ConnLogdTime time.Duration
	Debug        int
	Realtime     bool
	RTPrio       int // 0 = default
	HBGenMethod  string
	MsgFmt       string
	Compression  string
	// CompressionThreshold is in kilobytes.
	CompressionThreshold   int
	TraditionalCompression bool
	UUIDFrom               string
	Coredumps              bool
	Coreroot               string
	MaxRexmitDelay         time.Duration
	Memreserve             int // kilobytes
	LogBadpack             bool
	SyslogMsgFmt           bool
	UseApphbd              bool
	NormalPoll             bool
	Cluster                string

	// params holds the values as cl_status hbparameter reports them.
	params map[string]string
	// lines holds the line of the last occurrence of each directive.
	lines map[string]int
	// bad marks directives whose value was rejected, so that cross-field
	// checks do not pile spurious errors on top.
	bad map[string]bool
}

// Line returns the line of the last occurrence of directive, 0 if absent.
func (h *HaCf) Line(directive string) int { return h.lines[directive] }

// IsSet reports whether directive appears in the file.
func (h *HaCf) IsSet(directive string) bool { _, ok := h.lines[directive]; return ok }

// VIP is the parsed form of an IP address resource.
type VIP struct {
	Agent     string     // "IPaddr", "IPaddr2" or "IPv6addr"
	Addr      netip.Addr // the address to add
	Bits      int        // prefix length; 0 = derive from the routing table
	Iface     string     // base interface; "" = derive from the routing table
	Broadcast netip.Addr // invalid = derive (highest address of the subnet)
}

// Resource is one haresources token.
type Resource struct {
	Token string   // as written; goes on the wire unchanged
	Name  string   // script name ("IPaddr" for a bare IPv4 address)
	Args  []string // "::"-separated arguments
	VIP   *VIP     // for IPaddr, IPaddr2, IPv6addr and bare addresses
}

// Group is one haresources line: the preferred node and its resources, in
// start order. The first resource names the group.
type Group struct {
	Node      string // lower-cased
	Resources []Resource
	Line      int
}

// Key returns the group key: the token of its first resource.
func (g Group) Key() string {
	if len(g.Resources) == 0 {
		return ""
	}
	return g.Resources[0].Token
}
