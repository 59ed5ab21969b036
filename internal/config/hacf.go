package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Limits of include/heartbeat.h.
const (
	maxMedia = 64
	maxNodes = 100
)

// Defaults of heartbeat/config.c.
const (
	DefaultKeepalive = 1000 * time.Millisecond
	DefaultDeadtime  = 30000 * time.Millisecond
	DefaultUDPPort   = 694
	DefaultBaud      = 19200
)

// directive kinds.
const (
	kindOption    = iota // each DELIMS-separated value is handled on its own
	kindSingle           // exactly one value
	kindWholeLine        // the rest of the line, whitespace separated
)

type directive struct {
	kind   int
	record bool // value reported by cl_status hbparameter
	fn     func(p *hacfParser, v string)
	// whole-line directives get the remaining tokens instead
	line func(p *hacfParser, args []string, rest string)
}

// directives is the table of ha.cf directives of 3.0.6 (config.c Directives[],
// WLdirectives[] and the HBcomm media plugins).
var directives = map[string]directive{
	"node":                    {kind: kindOption, fn: (*hacfParser).node},
	"keepalive":               {kind: kindSingle, record: true, fn: timeSetter("keepalive", func(h *HaCf) *time.Duration { return &h.Keepalive }, 1)},
	"deadtime":                {kind: kindSingle, record: true, fn: timeSetter("deadtime", func(h *HaCf) *time.Duration { return &h.Deadtime }, 0)},
	"warntime":                {kind: kindSingle, record: true, fn: timeSetter("warntime", func(h *HaCf) *time.Duration { return &h.Warntime }, 1)},
	"initdead":                {kind: kindSingle, record: true, fn: timeSetter("initdead", func(h *HaCf) *time.Duration { return &h.Initdead }, 0)},
	"deadping":                {kind: kindSingle, record: true, fn: timeSetter("deadping", func(h *HaCf) *time.Duration { return &h.Deadping }, 0)},
	"conn_logd_time":          {kind: kindSingle, record: true, fn: timeSetter("conn_logd_time", func(h *HaCf) *time.Duration { return &h.ConnLogdTime }, 1)},
	"hopfudge":                {kind: kindSingle, record: true, fn: intSetter(func(h *HaCf) *int { return &h.Hopfudge }, 0, 255)},
	"debug":                   {kind: kindSingle, record: true, fn: intSetter(func(h *HaCf) *int { return &h.Debug }, 0, 255)},
	"rtprio":                  {kind: kindSingle, record: true, fn: intSetter(func(h *HaCf) *int { return &h.RTPrio }, 1, 99)},
	"compression_threshold":   {kind: kindSingle, record: true, fn: intSetter(func(h *HaCf) *int { return &h.CompressionThreshold }, 1, 1<<20)},
	"memreserve":              {kind: kindSingle, record: true, fn: intSetter(func(h *HaCf) *int { return &h.Memreserve }, 1, 1<<30)},
	"max_rexmit_delay":        {kind: kindSingle, record: true, fn: (*hacfParser).maxRexmitDelay},
	"udpport":                 {kind: kindSingle, record: true, fn: (*hacfParser).udpport},
	"baud":                    {kind: kindSingle, record: true, fn: (*hacfParser).baud},
	"watchdog":                {kind: kindSingle, record: true, fn: (*hacfParser).watchdog},
	"logfacility":             {kind: kindSingle, record: true, fn: (*hacfParser).logfacility},
	"logfile":                 {kind: kindSingle, record: true, fn: strSetter(func(h *HaCf) *string { return &h.Logfile })},
	"debugfile":               {kind: kindSingle, record: true, fn: strSetter(func(h *HaCf) *string { return &h.Debugfile })},
	"coreroot":                {kind: kindSingle, record: true, fn: strSetter(func(h *HaCf) *string { return &h.Coreroot })},
	"cluster":                 {kind: kindSingle, record: true, fn: strSetter(func(h *HaCf) *string { return &h.Cluster })},
	"nice_failback":           {kind: kindSingle, fn: (*hacfParser).niceFailback},
	"auto_failback":           {kind: kindSingle, record: true, fn: (*hacfParser).autoFailback},
	"realtime":                {kind: kindSingle, record: true, fn: boolSetter(func(h *HaCf) *bool { return &h.Realtime })},
	"use_logd":                {kind: kindSingle, record: true, fn: boolSetter(func(h *HaCf) *bool { return &h.UseLogd })},
	"log_badpack":             {kind: kindSingle, record: true, fn: boolSetter(func(h *HaCf) *bool { return &h.LogBadpack })},
	"syslogmsgfmt":            {kind: kindSingle, record: true, fn: boolSetter(func(h *HaCf) *bool { return &h.SyslogMsgFmt })},
	"coredumps":               {kind: kindSingle, record: true, fn: boolSetter(func(h *HaCf) *bool { return &h.Coredumps })},
	"traditional_compression": {kind: kindSingle, record: true, fn: boolSetter(func(h *HaCf) *bool { return &h.TraditionalCompression })},
	"use_apphbd":              {kind: kindSingle, fn: boolSetter(func(h *HaCf) *bool { return &h.UseApphbd })},
	"normalpoll":              {kind: kindSingle, record: true, fn: boolSetter(func(h *HaCf) *bool { return &h.NormalPoll })},
	"hbgenmethod":             {kind: kindSingle, record: true, fn: enumSetter(func(h *HaCf) *string { return &h.HBGenMethod }, "file", "time")},
	"msgfmt":                  {kind: kindSingle, record: true, fn: enumSetter(func(h *HaCf) *string { return &h.MsgFmt }, "classic", "netstring")},
	"compression":             {kind: kindSingle, record: true, fn: enumSetter(func(h *HaCf) *string { return &h.Compression }, "zlib", "bz2")},
	"uuidfrom":                {kind: kindSingle, record: true, fn: enumSetter(func(h *HaCf) *string { return &h.UUIDFrom }, "file", "nodename")},
	"autojoin":                {kind: kindSingle, record: true, fn: (*hacfParser).autojoin},
	"env":                     {kind: kindOption, fn: (*hacfParser).env},
	"crm":                     {kind: kindSingle, fn: (*hacfParser).pacemaker},
	"pacemaker":               {kind: kindSingle, fn: (*hacfParser).pacemaker},
	"crm_daemon_dir":          {kind: kindSingle, fn: (*hacfParser).crmOnly},
	"crmd_spawns_pengine":     {kind: kindSingle, fn: (*hacfParser).crmOnly},
	"record_config_changes":   {kind: kindSingle, fn: (*hacfParser).crmOnly},
	"record_pengine_inputs":   {kind: kindSingle, fn: (*hacfParser).crmOnly},
	"enable_config_writes":    {kind: kindSingle, fn: (*hacfParser).crmOnly},
	"quorum_server":           {kind: kindSingle, fn: (*hacfParser).crmOnly},

	// media and ping plugins
	"bcast":      {kind: kindOption, fn: (*hacfParser).bcast},
	"serial":     {kind: kindOption, fn: (*hacfParser).serial},
	"ping":       {kind: kindOption, fn: (*hacfParser).ping},
	"ping6":      {kind: kindOption, fn: (*hacfParser).ping6},
	"hbaping":    {kind: kindOption, fn: (*hacfParser).hbaping},
	"mcast":      {kind: kindWholeLine, line: (*hacfParser).mcast},
	"mcast6":     {kind: kindWholeLine, line: (*hacfParser).mcast6},
	"ucast":      {kind: kindWholeLine, line: (*hacfParser).ucast},
	"ucast6":     {kind: kindWholeLine, line: (*hacfParser).ucast6},
	"ping_group": {kind: kindWholeLine, line: (*hacfParser).pingGroup},
	"rds":        {kind: kindWholeLine, line: (*hacfParser).rds},

	// whole-line directives
	"stonith":      {kind: kindWholeLine, line: (*hacfParser).stonith},
	"stonith_host": {kind: kindWholeLine, line: (*hacfParser).stonithHost},
	"apiauth":      {kind: kindWholeLine, line: (*hacfParser).apiauth},
	"respawn":      {kind: kindWholeLine, line: (*hacfParser).respawn},
	"failfast":     {kind: kindWholeLine, line: (*hacfParser).respawn},
}

// builtinAPIAuth are the apiauth defaults of config.c (parse_config).
var builtinAPIAuth = []APIAuth{
	{Client: "ipfail", UIDs: []string{"hacluster"}},
	{Client: "ccm", UIDs: []string{"hacluster"}},
	{Client: "ping", GIDs: []string{"haclient"}},
	{Client: "lha-snmpagent", UIDs: []string{"root"}},
	{Client: "anon", UIDs: []string{"root"}, GIDs: []string{"haclient"}},
}

// fixedDefaults are the Directives[] default values cl_status reports when a
// directive is absent.
var fixedDefaults = map[string]string{
	"cluster":                 "linux-ha",
	"hopfudge":                "1",
	"keepalive":               "1000ms",
	"deadtime":                "30000ms",
	"baud":                    "19200",
	"auto_failback":           "legacy",
	"hbgenmethod":             "file",
	"realtime":                "true",
	"msgfmt":                  "classic",
	"conn_logd_time":          "60",
	"log_badpack":             "true",
	"syslogmsgfmt":            "true",
	"coredumps":               "true",
	"pacemaker":               "false",
	"autojoin":                "none",
	"uuidfrom":                "file",
	"compression":             "zlib",
	"compression_threshold":   "2",
	"traditional_compression": "no",
	"max_rexmit_delay":        "250",
	"record_config_changes":   "on",
	"record_pengine_inputs":   "on",
	"enable_config_writes":    "on",
	"memreserve":              "6500",
}

type hacfParser struct {
	diag
	cf            *HaCf
	line          int
	directive     string
	set           map[string]bool // explicitly set single-valued directives
	firstMedia    int             // line of the first medium, 0 if none yet
	pacemakerLine int             // line of the crm/pacemaker directive
	watchdogLine  int
	baudLine      int
	apiauthLine   map[string]int
	udpportSet    bool
}

// ParseHaCf parses the content of an ha.cf file. Defaults and derived values
// (warntime, initdead, deadping) are filled in; cross-field rules are checked
// by Config.Validate. The error joins one *Error per problem.
func ParseHaCf(path string, data []byte) (*HaCf, []Warning, error) {
	cf := &HaCf{
		Path:                 path,
		Keepalive:            DefaultKeepalive,
		Deadtime:             DefaultDeadtime,
		UDPPort:              DefaultUDPPort,
		Baud:                 DefaultBaud,
		Hopfudge:             1,
		ConnLogdTime:         60 * time.Second,
		Realtime:             true,
		HBGenMethod:          "file",
		MsgFmt:               "classic",
		Compression:          "zlib",
		CompressionThreshold: 2,
		UUIDFrom:             "file",
		Coredumps:            true,
		MaxRexmitDelay:       250 * time.Millisecond,
		Memreserve:           6500,
		LogBadpack:           true,
		SyslogMsgFmt:         true,
		NormalPoll:           true,
		Cluster:              "linux-ha",
		params:               map[string]string{},
		lines:                map[string]int{},
		bad:                  map[string]bool{},
	}
	p := &hacfParser{diag: diag{path: path}, cf: cf, set: map[string]bool{}, apiauthLine: map[string]int{}}
	for i, raw := range bytes.Split(data, []byte("\n")) {
		p.line = i + 1
		p.parseLine(string(raw))
	}
	p.finish()
	sortErrors(p.errs)
	sortWarnings(p.warns)
	return cf, p.warns, join(p.errs)
}

func (p *hacfParser) parseLine(s string) {
	s = trimLeft(s, whitespace)
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return
	}
	name := s
	rest := ""
	if i := strings.IndexAny(s, whitespace); i >= 0 {
		name, rest = s[:i], s[i:]
	}
	rest = trimLeft(rest, delims)
	if name == "udp" {
		p.warnf(p.line, `directive "udp" replaced by "bcast"`)
		name = "bcast"
	}
	d, ok := directives[name]
	if !ok {
		p.errorf(p.line, "unknown directive %q", name)
		return
	}
	p.directive = name
	p.cf.lines[name] = p.line
	switch d.kind {
	case kindWholeLine:
		d.line(p, fields(rest, whitespace), strings.TrimRight(rest, whitespace))
	case kindSingle:
		vals := fields(rest, delims)
		switch {
		case len(vals) == 0:
			p.errorf(p.line, "%s: missing value", name)
			p.cf.bad[name] = true
			return
		case len(vals) > 1:
			p.errorf(p.line, "%s: takes one value, got %d (%s)", name, len(vals), strings.Join(vals, " "))
			p.cf.bad[name] = true
			return
		}
		if p.set[name] && name != "baud" && name != "watchdog" && name != "crm" && name != "pacemaker" {
			p.warnf(p.line, "%s set again; the last value wins", name)
		}
		n := len(p.errs)
		d.fn(p, vals[0])
		if len(p.errs) > n {
			p.cf.bad[name] = true
			return
		}
		p.set[name] = true
		if d.record {
			p.cf.params[name] = vals[0]
		}
	case kindOption:
		vals := fields(rest, delims)
		if len(vals) == 0 {
			p.errorf(p.line, "%s: missing value", name)
			return
		}
		n := len(p.errs)
		defer func() {
			if len(p.errs) > n {
				p.cf.bad[name] = true
			}
		}()
		for _, v := range vals {
			d.fn(p, v)
		}
	}
}

// errv reports an invalid value of the current directive.
func (p *hacfParser) errv(format string, args ...any) {
	p.errorf(p.line, "%s: %s", p.directive, fmt.Sprintf(format, args...))
}

func timeSetter(name string, field func(*HaCf) *time.Duration, min time.Duration) func(*hacfParser, string) {
	return func(p *hacfParser, v string) {
		d, err := ParseTime(v)
		if err != nil {
			p.errv("%v", err)
			return
		}
		if d < min {
			p.errv("must be greater than zero")
			return
		}
		*field(p.cf) = d
	}
}

func intSetter(field func(*HaCf) *int, lo, hi int) func(*hacfParser, string) {
	return func(p *hacfParser, v string) {
		n, err := parseInt(v, lo, hi)
		if err != nil {
			p.errv("%v", err)
			return
		}
		*field(p.cf) = n
	}
}

func boolSetter(field func(*HaCf) *bool) func(*hacfParser, string) {
	return func(p *hacfParser, v string) {
		b, err := ParseBool(v)
		if err != nil {
			p.errv("%v", err)
			return
		}
		*field(p.cf) = b
	}
}

func strSetter(field func(*HaCf) *string) func(*hacfParser, string) {
	return func(p *hacfParser, v string) { *field(p.cf) = v }
}

func enumSetter(field func(*HaCf) *string, allowed ...string) func(*hacfParser, string) {
	return func(p *hacfParser, v string) {
		for _, a := range allowed {
			if v == a {
				*field(p.cf) = v
				return
			}
		}
		p.errv("invalid value %q (want %s)", v, strings.Join(allowed, " or "))
	}
}

func (p *hacfParser) node(v string) {
	name := strings.ToLower(v)
	if len(name) >= 100 {
		p.errv("node name %q is too long", v)
		return
	}
	for _, n := range p.cf.Nodes {
		if n == name {
			p.warnf(p.line, "node %q declared twice", name)
			return
		}
	}
	if len(p.cf.Nodes) >= maxNodes {
		p.errv("too many nodes (more than %d)", maxNodes)
		return
	}
	p.cf.Nodes = append(p.cf.Nodes, name)
}

func (p *hacfParser) maxRexmitDelay(v string) {
	n, err := parseInt(v, 1, 1<<30)
	if err != nil {
		p.errv("%v", err)
		return
	}
	p.cf.MaxRexmitDelay = time.Duration(n) * time.Millisecond
}

func (p *hacfParser) udpport(v string) {
	n, err := parseInt(v, 1, 65535)
	if err != nil {
		p.errv("invalid port: %v", err)
		return
	}
	if p.firstMedia > 0 {
		p.warnf(p.line, "udpport must precede the media statements (line %d uses port %d)", p.firstMedia, p.cf.UDPPort)
	}
	p.cf.UDPPort = n
	p.udpportSet = true
}

func (p *hacfParser) baud(v string) {
	if p.baudLine > 0 {
		p.errv("baud rate specified twice (first at line %d)", p.baudLine)
		return
	}
	p.baudLine = p.line
	switch v {
	case "9600", "19200", "38400", "57600", "115200", "230400", "460800":
	default:
		p.errv("invalid baud rate %q (want 9600, 19200, 38400, 57600, 115200, 230400 or 460800)", v)
		return
	}
	if p.firstMedia > 0 {
		p.warnf(p.line, "baud must precede the media statements (line %d)", p.firstMedia)
	}
	p.cf.Baud, _ = strconv.Atoi(v)
}

func (p *hacfParser) watchdog(v string) {
	if p.watchdogLine > 0 {
		p.errv("watchdog device specified twice (first at line %d)", p.watchdogLine)
		return
	}
	p.watchdogLine = p.line
	p.cf.Watchdog = v
}

var facilities = map[string]bool{
	"auth": true, "authpriv": true, "cron": true, "daemon": true, "ftp": true,
	"kern": true, "lpr": true, "mail": true, "news": true, "security": true,
	"syslog": true, "user": true, "uucp": true, "local0": true, "local1": true,
	"local2": true, "local3": true, "local4": true, "local5": true, "local6": true,
	"local7": true, "none": true,
}

func (p *hacfParser) logfacility(v string) {
	if !facilities[v] {
		p.errv("invalid syslog facility %q", v)
		return
	}
	p.cf.Logfacility = v
}

func (p *hacfParser) niceFailback(v string) {
	b, err := ParseBool(v)
	if err != nil {
		p.errv("%v", err)
		return
	}
	if b {
		p.cf.AutoFailback = AutoFailbackOff
		p.warnf(p.line, "nice_failback is obsolete: 'nice_failback %s' means 'auto_failback off'", v)
	} else {
		p.cf.AutoFailback = AutoFailbackLegacy
		p.warnf(p.line, "nice_failback is obsolete: 'nice_failback %s' means 'auto_failback legacy'; consider 'auto_failback on'", v)
	}
	p.cf.params["auto_failback"] = p.cf.AutoFailback.String()
}

func (p *hacfParser) autoFailback(v string) {
	if strings.EqualFold(v, "legacy") {
		p.cf.AutoFailback = AutoFailbackLegacy
		return
	}
	b, err := ParseBool(v)
	if err != nil {
		p.errv("invalid value %q (want on, off or legacy)", v)
		return
	}
	if b {
		p.cf.AutoFailback = AutoFailbackOn
	} else {
		p.cf.AutoFailback = AutoFailbackOff
	}
}

func (p *hacfParser) autojoin(v string) {
	switch strings.ToLower(v) {
	case "none":
		p.cf.Autojoin = AutojoinNone
	case "other":
		p.cf.Autojoin = AutojoinOther
	case "any":
		p.cf.Autojoin = AutojoinAny
	default:
		p.errv("invalid value %q (want none, other or any)", v)
	}
}

func (p *hacfParser) env(v string) {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		p.errv("invalid %q (want NAME=value)", v)
		return
	}
	p.cf.Env = append(p.cf.Env, EnvVar{Name: name, Value: value, Line: p.line})
}

func (p *hacfParser) pacemaker(v string) {
	if p.pacemakerLine > 0 {
		p.errv("pacemaker/crm directive used more than once (first at line %d)", p.pacemakerLine)
		return
	}
	p.pacemakerLine = p.line
	switch strings.ToLower(v) {
	case "minimal", "manual", "respawn", "ccm-only", "valgrind":
		p.errv("%q enables pacemaker, not supported in haresources mode", v)
		return
	}
	on, err := ParseBool(v)
	if err != nil {
		p.errv("invalid value %q", v)
		return
	}
	if on {
		p.errv("%q enables pacemaker, not supported in haresources mode", v)
		return
	}
	p.cf.params["pacemaker"] = v
}

func (p *hacfParser) crmOnly(string) {
	p.errorf(p.line, "%s is a pacemaker directive, not supported in haresources mode", p.directive)
}

// medium appends a medium, enforcing MAXMEDIA.
func (p *hacfParser) medium(m Medium) {
	if len(p.cf.Media) >= maxMedia {
		p.errv("too many media (more than %d)", maxMedia)
		return
	}
	m.Line = p.line
	if p.firstMedia == 0 {
		p.firstMedia = p.line
	}
	p.cf.Media = append(p.cf.Media, m)
}

func (p *hacfParser) bcast(dev string) {
	if !validIfname(dev) {
		p.errv("invalid interface name %q", dev)
		return
	}
	p.medium(Medium{Type: Bcast, Dev: dev, Port: p.cf.UDPPort})
}

func (p *hacfParser) serial(dev string) {
	if !strings.HasPrefix(dev, "/") {
		p.errv("serial device %q must be an absolute path", dev)
		return
	}
	p.medium(Medium{Type: Serial, Dev: dev, Baud: p.cf.Baud})
}

// wantArgs checks the count of a whole-line directive's arguments.
func (p *hacfParser) wantArgs(args []string, names ...string) bool {
	if len(args) < len(names) {
		p.errv("missing %s (syntax: %s %s)", names[len(args)], p.directive, strings.Join(names, " "))
		return false
	}
	if len(args) > len(names) {
		p.errv("unexpected argument %q (syntax: %s %s)", args[len(names)], p.directive, strings.Join(names, " "))
		return false
	}
	return true
}

func (p *hacfParser) mcast(args []string, _ string) {
	if !p.wantArgs(args, "dev", "group", "port", "ttl", "loop") {
		return
	}
	m, ok := p.multicast(Mcast, args)
	if !ok {
		return
	}
	if !m.Group.Is4() || !m.Group.IsMulticast() {
		p.errv("bad multicast group %q (want an IPv4 address in 224.0.0.0/4)", args[1])
		return
	}
	ttl, err := parseInt(args[3], 1, 255)
	if err != nil {
		p.errv("bad ttl: %v", err)
		return
	}
	if ttl > 4 {
		p.warnf(p.line, "mcast: ttl %d is above 4, which heartbeat 3.0.6 refuses", ttl)
	}
	m.TTL = ttl
	p.medium(m)
}

func (p *hacfParser) mcast6(args []string, _ string) {
	if !p.wantArgs(args, "dev", "group", "port", "hops", "loop") {
		return
	}
	m, ok := p.multicast(Mcast6, args)
	if !ok {
		return
	}
	g := m.Group
	if !g.Is6() || g.Is4In6() || g.Zone() != "" || !validMcast6(g) {
		p.errv("bad multicast group %q (want an IPv6 group of link-, admin-, site- or organization-local scope, such as ff12::1:2:3:4)", args[1])
		return
	}
	hops, err := parseInt(args[3], 0, 4)
	if err != nil {
		p.errv("bad hops: %v", err)
		return
	}
	m.TTL = hops
	p.medium(m)
}

// validMcast6 follows mcast6.c is_valid_mcast6_addr: flags limited to the
// transient bit, scopes 2, 4, 5, 8 or e.
func validMcast6(a netip.Addr) bool {
	b := a.As16()
	if b[0] != 0xff || b[1]&0xe0 != 0 {
		return false
	}
	switch b[1] & 0x0f {
	case 0x2, 0x4, 0x5, 0x8, 0xe:
		return true
	}
	return false
}

// multicast parses the shared "dev group port x loop" fields.
func (p *hacfParser) multicast(t MediumType, args []string) (Medium, bool) {
	if !validIfname(args[0]) {
		p.errv("invalid interface name %q", args[0])
		return Medium{}, false
	}
	g, err := netip.ParseAddr(args[1])
	if err != nil {
		p.errv("bad multicast group %q", args[1])
		return Medium{}, false
	}
	port, err := parseInt(args[2], 1, 65535)
	if err != nil {
		p.errv("bad port: %v", err)
		return Medium{}, false
	}
	loop, err := parseInt(args[4], 0, 1)
	if err != nil {
		p.errv("bad loop: %v (want 0 or 1)", err)
		return Medium{}, false
	}
	return Medium{Type: t, Dev: args[0], Group: g, Port: port, Loop: loop == 1}, true
}

func (p *hacfParser) ucast(args []string, _ string) {
	if !p.wantArgs(args, "dev", "peer") {
		return
	}
	if !validIfname(args[0]) {
		p.errv("invalid interface name %q", args[0])
		return
	}
	m := Medium{Type: Ucast, Dev: args[0], Port: p.cf.UDPPort}
	if a, err := netip.ParseAddr(args[1]); err == nil {
		if !a.Is4() {
			p.errv("peer %q is not an IPv4 address (use ucast6 for IPv6)", args[1])
			return
		}
		if a.IsUnspecified() || a.IsMulticast() {
			p.errv("peer %q is not a unicast address", args[1])
			return
		}
		m.Peer = a
	} else if validHostname(args[1]) && !looksNumeric(args[1]) {
		m.PeerHost = args[1]
	} else {
		p.errv("bad peer %q (want an IPv4 address or a host name)", args[1])
		return
	}
	p.medium(m)
}

// looksNumeric reports whether s is made of digits and dots only (a
// malformed address rather than a host name).
func looksNumeric(s string) bool {
	return strings.Trim(s, "0123456789.") == ""
}

func (p *hacfParser) ucast6(args []string, _ string) {
	if !p.wantArgs(args, "dev", "peer") {
		return
	}
	if !validIfname(args[0]) {
		p.errv("invalid interface name %q", args[0])
		return
	}
	a, err := netip.ParseAddr(args[1])
	if err != nil || !a.Is6() || a.Is4In6() {
		p.errv("bad peer %q (want an IPv6 address, optionally with %%scope)", args[1])
		return
	}
	if a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() {
		p.errv("peer %q is not a unicast address", args[1])
		return
	}
	if a.IsLinkLocalUnicast() && a.Zone() == "" {
		a = a.WithZone(args[0])
	}
	p.medium(Medium{Type: Ucast6, Dev: args[0], Peer: a, Port: p.cf.UDPPort})
}

// host parses an address that may be an IP literal or a host name.
func (p *hacfParser) host(v string, want6 bool) (Host, bool) {
	if a, err := netip.ParseAddr(v); err == nil {
		if a.Is6() != want6 || a.Is4In6() {
			fam := "IPv4"
			if want6 {
				fam = "IPv6"
			}
			p.errv("%q is not an %s address", v, fam)
			return Host{}, false
		}
		return Host{Addr: a, Name: v}, true
	}
	if validHostname(v) && !looksNumeric(v) {
		return Host{Name: v}, true
	}
	p.errv("bad address %q", v)
	return Host{}, false
}

func (p *hacfParser) ping(v string) {
	if h, ok := p.host(v, false); ok {
		p.cf.PingNodes = append(p.cf.PingNodes, PingNode{Host: h, Line: p.line})
	}
}

func (p *hacfParser) ping6(v string) {
	if h, ok := p.host(v, true); ok {
		p.cf.PingNodes = append(p.cf.PingNodes, PingNode{Host: h, IPv6: true, Line: p.line})
	}
}

func (p *hacfParser) hbaping(v string) {
	p.warnf(p.line, "hbaping was never fully supported; %q is ignored", v)
	p.cf.HBAPing = append(p.cf.HBAPing, v)
}

func (p *hacfParser) pingGroup(args []string, _ string) {
	if len(args) < 2 {
		p.errv("syntax: ping_group name addr [addr...]")
		return
	}
	g := PingGroup{Name: args[0], Line: p.line}
	for _, pg := range p.cf.PingGroups {
		if pg.Name == g.Name {
			p.errv("ping group %q defined twice (first at line %d)", g.Name, pg.Line)
			return
		}
	}
	for _, v := range args[1:] {
		h, ok := p.host(v, false)
		if !ok {
			return
		}
		g.Hosts = append(g.Hosts, h)
	}
	p.cf.PingGroups = append(p.cf.PingGroups, g)
}

func (p *hacfParser) rds([]string, string) {
	p.errorf(p.line, "rds medium is not supported")
}

func (p *hacfParser) stonith(args []string, _ string) {
	if len(args) < 1 {
		p.errv("no stonith type given (syntax: stonith type config-file)")
		return
	}
	if p.cf.Stonith != nil {
		p.errv("stonith specified twice (first at line %d)", p.cf.Stonith.Line)
		return
	}
	if len(args) != 2 {
		p.errv("syntax: stonith type config-file")
		return
	}
	p.cf.Stonith = &Stonith{Type: args[0], ConfigFile: args[1], Line: p.line}
}

func (p *hacfParser) stonithHost(args []string, _ string) {
	if len(args) < 2 {
		p.errv("syntax: stonith_host {hostfrom|*} type params...")
		return
	}
	p.cf.StonithHost = append(p.cf.StonithHost, StonithHost{
		Host: strings.ToLower(args[0]), Type: args[1], Params: strings.Join(args[2:], " "), Line: p.line,
	})
}

func (p *hacfParser) apiauth(args []string, _ string) {
	if len(args) == 0 {
		p.errv("missing client name (syntax: apiauth client [uid=uidlist] [gid=gidlist])")
		return
	}
	a := APIAuth{Client: args[0], Line: p.line}
	if len(a.Client) >= 64 {
		p.errv("client name %q is too long", a.Client)
		return
	}
	var uidSet, gidSet bool
	for _, t := range args[1:] {
		switch {
		case strings.HasPrefix(t, "uid="):
			if uidSet {
				p.errv("duplicate uid list")
				return
			}
			uidSet = true
			a.UIDs = fields(t[4:], ",")
		case strings.HasPrefix(t, "gid="):
			if gidSet {
				p.errv("duplicate gid list")
				return
			}
			gidSet = true
			a.GIDs = fields(t[4:], ",")
		default:
			p.errv("unexpected %q: want uid=list or gid=list", t)
			return
		}
	}
	if len(a.UIDs) == 0 && len(a.GIDs) == 0 {
		p.errv("client %q needs a uid= or gid= list", a.Client)
		return
	}
	if first, dup := p.apiauthLine[a.Client]; dup {
		p.errv("duplicate apiauth for client %q (first at line %d)", a.Client, first)
		return
	}
	p.apiauthLine[a.Client] = p.line
	p.cf.APIAuth = append(p.cf.APIAuth, a)
}

func (p *hacfParser) respawn(args []string, rest string) {
	if len(args) < 2 {
		p.errv("syntax: %s user /path/to/program [args...]", p.directive)
		return
	}
	user := args[0]
	cmd := strings.TrimLeft(rest[len(user):], whitespace)
	if !strings.HasPrefix(args[1], "/") {
		p.errv("command %q is not a full path name", args[1])
		return
	}
	p.cf.Respawn = append(p.cf.Respawn, Child{
		User: user, Command: cmd, Path: args[1], Args: args[2:],
		Failfast: p.directive == "failfast", Line: p.line,
	})
}

// finish applies the derived values of init_config.
func (p *hacfParser) finish() {
	cf := p.cf
	// built-in apiauth entries unless overridden
	for _, d := range builtinAPIAuth {
		if _, ok := p.apiauthLine[d.Client]; !ok {
			cf.APIAuth = append(cf.APIAuth, d)
		}
	}
	if !p.set["warntime"] {
		cf.Warntime = cf.Deadtime / 2
		// config.c keeps integer milliseconds
		cf.Warntime = cf.Warntime.Truncate(time.Millisecond)
		cf.params["warntime"] = formatMs(cf.Warntime)
	}
	if !p.set["initdead"] {
		switch {
		case cf.Deadtime > 10*time.Second:
			cf.Initdead = cf.Deadtime
		case cf.Deadtime < 6*time.Second:
			cf.Initdead = 12 * time.Second
		default:
			cf.Initdead = 2 * cf.Deadtime
		}
		cf.params["initdead"] = formatMs(cf.Initdead)
	}
	if !p.set["deadping"] {
		cf.Deadping = cf.Deadtime
		cf.params["deadping"] = formatMs(cf.Deadping)
	}
	if !p.set["udpport"] {
		cf.params["udpport"] = strconv.Itoa(DefaultUDPPort)
	}
	if _, ok := cf.params["debug"]; !ok {
		cf.params["debug"] = "0"
	}
	if cf.Logfacility != "" && cf.Logfacility != "none" {
		if cf.Logfile == "" {
			cf.params["logfile"] = "/dev/null"
		}
		if cf.Debugfile == "" {
			cf.params["debugfile"] = "/dev/null"
		}
	}
	if cf.Logfile == "" && cf.Debugfile == "" && (cf.Logfacility == "" || cf.Logfacility == "none") {
		if !p.set["use_logd"] {
			cf.UseLogd = true
			cf.params["use_logd"] = "yes"
		} else if !cf.UseLogd {
			p.errorf(cf.lines["use_logd"], "no logging configured (no logfile, debugfile or logfacility) and use_logd is off")
		}
	}
	for k, v := range fixedDefaults {
		if _, ok := cf.params[k]; !ok {
			cf.params[k] = v
		}
	}
}
