package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustParseHaCf(t *testing.T, text string) (*HaCf, []Warning) {
	t.Helper()
	cf, warns, err := ParseHaCf("/etc/ha.d/ha.cf", []byte(text))
	if err != nil {
		t.Fatalf("ParseHaCf: %v", err)
	}
	return cf, warns
}

func TestParseHaCfEveryDirective(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "every_directive", HaCfFile))
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := mustParseHaCf(t, string(data))

	if want := []string{"hba", "hbb", "hbc"}; !slices.Equal(cf.Nodes, want) {
		t.Errorf("Nodes = %v, want %v", cf.Nodes, want)
	}
	durs := []struct {
		name      string
		got, want time.Duration
	}{
		{"keepalive", cf.Keepalive, 500 * time.Millisecond},
		{"deadtime", cf.Deadtime, 10 * time.Second},
		{"warntime", cf.Warntime, 5500 * time.Millisecond},
		{"initdead", cf.Initdead, 30 * time.Second},
		{"deadping", cf.Deadping, 12 * time.Second},
		{"conn_logd_time", cf.ConnLogdTime, 30 * time.Second},
		{"max_rexmit_delay", cf.MaxRexmitDelay, 300 * time.Millisecond},
	}
	for _, d := range durs {
		if d.got != d.want {
			t.Errorf("%s = %v, want %v", d.name, d.got, d.want)
		}
	}
	ints := []struct {
		name      string
		got, want int
	}{
		{"udpport", cf.UDPPort, 7694}, {"baud", cf.Baud, 38400}, {"hopfudge", cf.Hopfudge, 2},
		{"debug", cf.Debug, 1}, {"rtprio", cf.RTPrio, 50}, {"compression_threshold", cf.CompressionThreshold, 4},
		{"memreserve", cf.Memreserve, 8000},
	}
	for _, d := range ints {
		if d.got != d.want {
			t.Errorf("%s = %d, want %d", d.name, d.got, d.want)
		}
	}
	strs := []struct{ name, got, want string }{
		{"cluster", cf.Cluster, "prod-ha"}, {"logfacility", cf.Logfacility, "local0"},
		{"logfile", cf.Logfile, "/var/log/ha-log"}, {"debugfile", cf.Debugfile, "/var/log/ha-debug"},
		{"watchdog", cf.Watchdog, "/dev/watchdog"}, {"hbgenmethod", cf.HBGenMethod, "time"},
		{"msgfmt", cf.MsgFmt, "netstring"}, {"compression", cf.Compression, "bz2"},
		{"uuidfrom", cf.UUIDFrom, "nodename"}, {"coreroot", cf.Coreroot, "/var/lib/heartbeat/cores"},
	}
	for _, d := range strs {
		if d.got != d.want {
			t.Errorf("%s = %q, want %q", d.name, d.got, d.want)
		}
	}
	bools := []struct {
		name      string
		got, want bool
	}{
		{"use_logd", cf.UseLogd, false}, {"realtime", cf.Realtime, true},
		{"traditional_compression", cf.TraditionalCompression, false}, {"coredumps", cf.Coredumps, true},
		{"log_badpack", cf.LogBadpack, false}, {"syslogmsgfmt", cf.SyslogMsgFmt, true},
		{"use_apphbd", cf.UseApphbd, false}, {"normalpoll", cf.NormalPoll, true},
	}
	for _, d := range bools {
		if d.got != d.want {
			t.Errorf("%s = %v, want %v", d.name, d.got, d.want)
		}
	}
	if cf.AutoFailback != AutoFailbackOn || cf.Autojoin != AutojoinNone {
		t.Errorf("AutoFailback, Autojoin = %v, %v", cf.AutoFailback, cf.Autojoin)
	}

	a := netip.MustParseAddr
	wantMedia := []Medium{
		{Type: Bcast, Line: 17, Dev: "eth0", Port: 7694},
		{Type: Bcast, Line: 17, Dev: "eth1", Port: 7694},
		{Type: Mcast, Line: 18, Dev: "eth2", Group: a("239.0.0.43"), Port: 694, TTL: 1},
		{Type: Ucast, Line: 19, Dev: "eth3", Peer: a("10.250.0.2"), Port: 7694},
		{Type: Ucast, Line: 20, Dev: "eth3", PeerHost: "peer-b.example.com", Port: 7694},
		{Type: Mcast6, Line: 21, Dev: "eth4", Group: a("ff12::1:2:3:4"), Port: 694, TTL: 1},
		{Type: Ucast6, Line: 22, Dev: "eth4", Peer: a("fe80::2%eth4"), Port: 7694},
		{Type: Ucast6, Line: 23, Dev: "eth4", Peer: a("2001:db8::2%eth4"), Port: 7694},
		{Type: Serial, Line: 24, Dev: "/dev/ttyS0", Baud: 38400},
		{Type: Serial, Line: 24, Dev: "/dev/ttyS1", Baud: 38400},
	}
	if !slices.Equal(cf.Media, wantMedia) {
		t.Errorf("Media =\n%+v\nwant\n%+v", cf.Media, wantMedia)
	}
	wantPing := []PingNode{
		{Host: Host{Addr: a("10.250.0.254"), Name: "10.250.0.254"}, Line: 28},
		{Host: Host{Name: "gw.example.com"}, Line: 28},
		{Host: Host{Addr: a("2001:db8::fe"), Name: "2001:db8::fe"}, IPv6: true, Line: 29},
	}
	if !slices.Equal(cf.PingNodes, wantPing) {
		t.Errorf("PingNodes = %+v", cf.PingNodes)
	}
	if len(cf.PingGroups) != 1 || cf.PingGroups[0].Name != "routers" || len(cf.PingGroups[0].Hosts) != 2 ||
		cf.PingGroups[0].Hosts[1].Addr != a("10.0.0.2") {
		t.Errorf("PingGroups = %+v", cf.PingGroups)
	}
	if len(cf.Respawn) != 2 ||
		cf.Respawn[0].User != "hacluster" || cf.Respawn[0].Path != "/bin/true" ||
		cf.Respawn[0].Command != "/bin/true --flag" || !slices.Equal(cf.Respawn[0].Args, []string{"--flag"}) ||
		cf.Respawn[0].Failfast || !cf.Respawn[1].Failfast || cf.Respawn[1].Line != 32 {
		t.Errorf("Respawn = %+v", cf.Respawn)
	}
	clients := map[string]APIAuth{}
	for _, aa := range cf.APIAuth {
		clients[aa.Client] = aa
	}
	if len(cf.APIAuth) != 6 || clients["ipfail"].Line != 33 || clients["ccm"].Line != 0 ||
		!slices.Equal(clients["mon"].UIDs, []string{"root", "hacluster"}) ||
		!slices.Equal(clients["mon"].GIDs, []string{"haclient"}) ||
		!slices.Equal(clients["anon"].GIDs, []string{"haclient"}) {
		t.Errorf("APIAuth = %+v", cf.APIAuth)
	}
	if len(cf.StonithHost) != 2 || cf.StonithHost[0].Host != "*" || cf.StonithHost[1].Host != "hbb" ||
		cf.StonithHost[1].Type != "external/ipmi" || cf.StonithHost[1].Params != "hbB 10.0.0.12 admin secret" {
		t.Errorf("StonithHost = %+v", cf.StonithHost)
	}
	if len(cf.Env) != 1 || cf.Env[0] != (EnvVar{Name: "SITE", Value: "north", Line: 50}) {
		t.Errorf("Env = %+v", cf.Env)
	}
}

func TestDefaultsAndDerived(t *testing.T) {
	for _, tc := range []struct {
		text                         string
		warn, initdead, deadping     time.Duration
		pWarn, pInitdead, pKeepalive string
	}{
		{"", 15 * time.Second, 30 * time.Second, 30 * time.Second, "15000ms", "30000ms", "1000ms"},
		{"deadtime 3\nkeepalive 1", 1500 * time.Millisecond, 12 * time.Second, 3 * time.Second, "1500ms", "12000ms", "1"},
		{"deadtime 6", 3 * time.Second, 12 * time.Second, 6 * time.Second, "3000ms", "12000ms", "1000ms"},
		{"deadtime 8", 4 * time.Second, 16 * time.Second, 8 * time.Second, "4000ms", "16000ms", "1000ms"},
		{"deadtime 10", 5 * time.Second, 20 * time.Second, 10 * time.Second, "5000ms", "20000ms", "1000ms"},
		{"deadtime 10.001", 5000 * time.Millisecond, 10001 * time.Millisecond, 10001 * time.Millisecond, "5000ms", "10001ms", "1000ms"},
		{"keepalive 20ms\ndeadtime 80ms", 40 * time.Millisecond, 12 * time.Second, 80 * time.Millisecond, "40ms", "12000ms", "20ms"},
		{"deadtime 5\nwarntime 2\ninitdead 20", 2 * time.Second, 20 * time.Second, 5 * time.Second, "2", "20", "1000ms"},
	} {
		cf, _ := mustParseHaCf(t, tc.text)
		if cf.Warntime != tc.warn || cf.Initdead != tc.initdead || cf.Deadping != tc.deadping {
			t.Errorf("%q: warntime, initdead, deadping = %v, %v, %v; want %v, %v, %v",
				tc.text, cf.Warntime, cf.Initdead, cf.Deadping, tc.warn, tc.initdead, tc.deadping)
		}
		for name, want := range map[string]string{"warntime": tc.pWarn, "initdead": tc.pInitdead, "keepalive": tc.pKeepalive} {
			if got, ok := cf.Parameter(name); !ok || got != want {
				t.Errorf("%q: Parameter(%s) = %q, %v; want %q", tc.text, name, got, ok, want)
			}
		}
	}
}

func TestParameter(t *testing.T) {
	cf, _ := mustParseHaCf(t, "keepalive 1\nwarntime 2\ndeadtime 3\ninitdead 10\nudpport 694\nauto_failback on\ncrm off\nlogfacility local0\nnode hbA hbB\nucast eth0 10.0.0.2\n")
	for name, want := range map[string]string{
		"keepalive": "1", "deadtime": "3", "warntime": "2", "initdead": "10", "auto_failback": "on",
		"udpport": "694", "deadping": "3000ms", "baud": "19200", "hopfudge": "1", "debug": "0",
		"logfacility": "local0", "logfile": "/dev/null", "debugfile": "/dev/null", "msgfmt": "classic",
		"crm": "off", "pacemaker": "off", "autojoin": "none", "cluster": "linux-ha",
	} {
		if got, ok := cf.Parameter(name); !ok || got != want {
			t.Errorf("Parameter(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"node", "apiauth", "stonith", "nice_failback", "watchdog", "nosuch"} {
		if got, ok := cf.Parameter(name); ok {
			t.Errorf("Parameter(%q) = %q, want not set", name, got)
		}
	}
	cf, _ = mustParseHaCf(t, "nice_failback on\n")
	if got, _ := cf.Parameter("auto_failback"); got != "off" || cf.AutoFailback != AutoFailbackOff {
		t.Errorf("nice_failback on: auto_failback = %q/%v, want off", got, cf.AutoFailback)
	}
	cf, _ = mustParseHaCf(t, "nice_failback off\n")
	if cf.AutoFailback != AutoFailbackLegacy {
		t.Errorf("nice_failback off: auto_failback = %v, want legacy", cf.AutoFailback)
	}
	cf, _ = mustParseHaCf(t, "")
	if got, _ := cf.Parameter("use_logd"); got != "yes" || !cf.UseLogd {
		t.Errorf("no logging: use_logd = %q/%v, want implied yes", got, cf.UseLogd)
	}
}

func TestParseHaCfSyntax(t *testing.T) {
	// comments anywhere, DELIMS between values, CR line ends, udp alias
	cf, warns := mustParseHaCf(t, "  # leading comment\r\nnode\thbA,hbB # trailing\r\n\n\fbcast eth0,,eth1\r\nudp eth2\n")
	if !slices.Equal(cf.Nodes, []string{"hba", "hbb"}) {
		t.Errorf("Nodes = %v", cf.Nodes)
	}
	if len(cf.Media) != 3 || cf.Media[2].Dev != "eth2" || cf.Media[2].Type != Bcast || cf.Media[2].Line != 5 {
		t.Errorf("Media = %+v", cf.Media)
	}
	if len(warns) != 1 || warns[0].Line != 5 || !strings.Contains(warns[0].Msg, `"udp" replaced by "bcast"`) {
		t.Errorf("warnings = %v", warns)
	}
	// a whole-line directive keeps commas inside its arguments
	cf, _ = mustParseHaCf(t, "apiauth mon uid=a,b gid=c\n")
	if cf.APIAuth[0].Client != "mon" || !slices.Equal(cf.APIAuth[0].UIDs, []string{"a", "b"}) {
		t.Errorf("APIAuth = %+v", cf.APIAuth)
	}
}

func TestParseHaCfErrors(t *testing.T) {
	for _, tc := range []struct {
		text string
		line int
		msg  string
	}{
		{"deadtim 30", 1, `unknown directive "deadtim"`},
		{"\n\nkeepalive 0", 3, "keepalive: must be greater than zero"},
		{"keepalive", 1, "keepalive: missing value"},
		{"crm on", 1, `crm: "on" enables pacemaker, not supported in haresources mode`},
		{"crm yes", 1, "not supported in haresources mode"},
		{"crm minimal", 1, "not supported in haresources mode"},
		{"crm valgrind", 1, "not supported in haresources mode"},
		{"pacemaker respawn", 1, "not supported in haresources mode"},
		{"crm bogus", 1, `crm: invalid value "bogus"`},
		{"crm off\npacemaker off", 2, "used more than once"},
		{"crmd_spawns_pengine no", 1, "crmd_spawns_pengine is a pacemaker directive, not supported in haresources mode"},
		{"mcast eth0 239.0.0.1 694 0 0", 1, "bad ttl"},
		{"mcast eth0 239.0.0.1 694 256 0", 1, "bad ttl"},
		{"mcast eth0 239.0.0.1 0 1 0", 1, "bad port"},
		{"mcast6 eth0 ff12::1 694 5 0", 1, "bad hops"},
		{"mcast6 eth0 ff12::1 694 1 2", 1, "bad loop"},
		{"ucast eth0 2001:db8::1", 1, "use ucast6"},
		{"ucast eth0 10.0.0", 1, "bad peer"},
		{"ucast6 eth0 ff02::1", 1, "not a unicast address"},
		{"serial ttyS0", 1, "absolute path"},
		{"baud 9600\nbaud 9600", 2, "specified twice"},
		{"ping 2001:db8::1", 1, "not an IPv4 address"},
		{"ping6 10.0.0.1", 1, "not an IPv6 address"},
		{"ping_group g", 1, "syntax: ping_group"},
		{"ping_group g 10.0.0.1\nping_group g 10.0.0.2", 2, "defined twice"},
		{"apiauth a uid=x\napiauth a gid=y", 2, `duplicate apiauth for client "a"`},
		{"apiauth a uid=x uid=y", 1, "duplicate uid list"},
		{"respawn hacluster", 1, "syntax"},
		{"failfast root rel/path", 1, "not a full path name"},
		{"stonith", 1, "no stonith type"},
		{"stonith_host *", 1, "syntax"},
		{"env =x", 1, "want NAME=value"},
		{"rds eth0", 1, "rds medium is not supported"},
		{"logfacility local9", 1, "invalid syslog facility"},
		{"autojoin some", 1, "invalid value"},
		{"uuidfrom File", 1, "invalid value"},
		{"rtprio 0", 1, "out of range"},
		{"use_logd off", 1, "use_logd is off"},
	} {
		_, _, err := ParseHaCf("ha.cf", []byte(tc.text))
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: error %v is not an *Error", tc.text, err)
			continue
		}
		if e.Line != tc.line || e.Path != "ha.cf" || !strings.Contains(e.Msg, tc.msg) {
			t.Errorf("%q: got %v, want line %d containing %q", tc.text, err, tc.line, tc.msg)
		}
	}
}

func TestParseHaCfAllErrorsAtOnce(t *testing.T) {
	_, _, err := ParseHaCf("/etc/ha.d/ha.cf", []byte("a 1\nkeepalive x\n# ok\nb 2\nnode hba\nc 3\n"))
	errs := Errors(err)
	want := []string{
		`/etc/ha.d/ha.cf:1: unknown directive "a"`,
		`/etc/ha.d/ha.cf:2: keepalive: invalid time "x" (want seconds such as 2 or 1.5, or milliseconds such as 500ms)`,
		`/etc/ha.d/ha.cf:4: unknown directive "b"`,
		`/etc/ha.d/ha.cf:6: unknown directive "c"`,
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors (%v), want %d", len(errs), err, len(want))
	}
	for i := range want {
		if errs[i].Error() != want[i] {
			t.Errorf("error %d = %q, want %q", i, errs[i], want[i])
		}
	}
}

func TestMediumPortInForce(t *testing.T) {
	cf, warns := mustParseHaCf(t, "bcast eth0\nudpport 700\nbcast eth1\nucast eth2 10.0.0.2\nserial /dev/ttyS0\nbaud 9600\nserial /dev/ttyS1\n")
	ports := []int{cf.Media[0].Port, cf.Media[1].Port, cf.Media[2].Port}
	if !slices.Equal(ports, []int{694, 700, 700}) || cf.Media[3].Baud != 19200 || cf.Media[4].Baud != 9600 {
		t.Errorf("Media = %+v", cf.Media)
	}
	if len(warns) != 2 || warns[0].Line != 2 || warns[1].Line != 6 {
		t.Errorf("warnings = %v, want udpport and baud after media", warns)
	}
}

// The forms 3.0.6 accepts for stonith and hbaping parse (they are not
// executed: docs/reference.md), with what an admin needs to see.
func TestStonithAndHbaping(t *testing.T) {
	cf, warns := mustParseHaCf(t, "node hba hbb\nbcast eth0\nstonith baytech /etc/ha.d/conf/stonith.baytech\nstonith_host * external/ipmi hbA 10.0.0.11 admin secret\nhbaping fc-card-name\n")
	if cf.Stonith == nil || cf.Stonith.Type != "baytech" || cf.Stonith.ConfigFile != "/etc/ha.d/conf/stonith.baytech" || cf.Stonith.Line != 3 {
		t.Errorf("stonith = %+v", cf.Stonith)
	}
	if len(cf.StonithHost) != 1 || cf.StonithHost[0].Host != "*" || cf.StonithHost[0].Type != "external/ipmi" ||
		cf.StonithHost[0].Params != "hbA 10.0.0.11 admin secret" {
		t.Errorf("stonith_host = %+v", cf.StonithHost)
	}
	var hba []Warning
	for _, w := range warns {
		if w.Line == 5 {
			hba = append(hba, w)
		}
	}
	if len(hba) != 1 || !strings.Contains(hba[0].Msg, "hbaping") || !strings.Contains(hba[0].Msg, "fc-card-name") {
		t.Errorf("hbaping warnings %+v, want one naming the ignored value", hba)
	}
	if _, _, err := ParseHaCf("ha.cf", []byte("stonith baytech /x\nstonith baytech /y\n")); err == nil || !strings.Contains(err.Error(), "ha.cf:2: stonith: stonith specified twice (first at line 1)") {
		t.Errorf("second stonith line: %v", err)
	}
}
