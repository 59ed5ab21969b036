package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseResource(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		tok  string
		name string
		args []string
		vip  *VIP
	}{
		{"httpd", "httpd", nil, nil},
		{"drbddisk::r0", "drbddisk", []string{"r0"}, nil},
		{"Filesystem::/dev/drbd0::/srv::ext4", "Filesystem", []string{"/dev/drbd0", "/srv", "ext4"}, nil},
		{"10.0.0.1", "IPaddr", []string{"10.0.0.1"}, &VIP{Agent: "IPaddr", Addr: a("10.0.0.1")}},
		{"10.0.0.1/24", "IPaddr", []string{"10.0.0.1/24"}, &VIP{Agent: "IPaddr", Addr: a("10.0.0.1"), Bits: 24}},
		{"10.0.0.1/24/eth0", "IPaddr", []string{"10.0.0.1/24/eth0"}, &VIP{Agent: "IPaddr", Addr: a("10.0.0.1"), Bits: 24, Iface: "eth0"}},
		{"10.0.0.1/24/10.0.0.255", "IPaddr", []string{"10.0.0.1/24/10.0.0.255"}, &VIP{Agent: "IPaddr", Addr: a("10.0.0.1"), Bits: 24, Broadcast: a("10.0.0.255")}},
		{"10.0.0.1/24/eth0/10.0.0.255", "IPaddr", []string{"10.0.0.1/24/eth0/10.0.0.255"}, &VIP{Agent: "IPaddr", Addr: a("10.0.0.1"), Bits: 24, Iface: "eth0", Broadcast: a("10.0.0.255")}},
		{"IPaddr::10.250.0.100/24/eth0", "IPaddr", []string{"10.250.0.100/24/eth0"}, &VIP{Agent: "IPaddr", Addr: a("10.250.0.100"), Bits: 24, Iface: "eth0"}},
		{"IPaddr2::10.0.0.2/255.255.0.0", "IPaddr2", []string{"10.0.0.2/255.255.0.0"}, &VIP{Agent: "IPaddr2", Addr: a("10.0.0.2"), Bits: 16}},
		{"IPv6addr::2001:db8::1/64", "IPv6addr", []string{"2001:db8::1/64"}, &VIP{Agent: "IPv6addr", Addr: a("2001:db8::1"), Bits: 64}},
		{"2001:db8::2", "IPv6addr", []string{"2001:db8::2"}, &VIP{Agent: "IPv6addr", Addr: a("2001:db8::2")}},
		{"2001:db8::3/64/eth1", "IPv6addr", []string{"2001:db8::3/64/eth1"}, &VIP{Agent: "IPv6addr", Addr: a("2001:db8::3"), Bits: 64, Iface: "eth1"}},
		// IPaddr and IPaddr2 with an IPv6 address: the argument is kept whole
		{"IPaddr2::fd00::10/64/eth0", "IPaddr2", []string{"fd00::10/64/eth0"}, &VIP{Agent: "IPaddr2", Addr: a("fd00::10"), Bits: 64, Iface: "eth0"}},
		{"IPaddr2::fd00::10", "IPaddr2", []string{"fd00::10"}, &VIP{Agent: "IPaddr2", Addr: a("fd00::10")}},
		{"IPaddr2::fd00::10/64", "IPaddr2", []string{"fd00::10/64"}, &VIP{Agent: "IPaddr2", Addr: a("fd00::10"), Bits: 64}},
		{"IPaddr::2001:db8:0:1::5/64/eth1", "IPaddr", []string{"2001:db8:0:1::5/64/eth1"}, &VIP{Agent: "IPaddr", Addr: a("2001:db8:0:1::5"), Bits: 64, Iface: "eth1"}},
		{"IPaddr::fd00::1:2", "IPaddr", []string{"fd00::1:2"}, &VIP{Agent: "IPaddr", Addr: a("fd00::1:2")}},
		{"IPaddr2::2001:db8:1:2:3:4:5:6/128", "IPaddr2", []string{"2001:db8:1:2:3:4:5:6/128"}, &VIP{Agent: "IPaddr2", Addr: a("2001:db8:1:2:3:4:5:6"), Bits: 128}},
		{"IPaddr2::fe80::13/64/eth1", "IPaddr2", []string{"fe80::13/64/eth1"}, &VIP{Agent: "IPaddr2", Addr: a("fe80::13"), Bits: 64, Iface: "eth1"}},
		// a script that is not an address agent still splits on "::"
		{"MyScript::fd00::10", "MyScript", []string{"fd00", "10"}, nil},
	} {
		r, err := ParseResource(tc.tok)
		if err != nil {
			t.Errorf("ParseResource(%q): %v", tc.tok, err)
			continue
		}
		want := Resource{Token: tc.tok, Name: tc.name, Args: tc.args, VIP: tc.vip}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("ParseResource(%q) = %+v (vip %+v), want %+v (vip %+v)", tc.tok, r, r.VIP, want, want.VIP)
		}
	}
	for _, tok := range []string{
		"10.0.0.256", "10.0.0.1/0", "10.0.0.1/33", "10.0.0.1/255.0.255.0", "10.0.0.1/24/eth0/eth1",
		"10.0.0.1/24/10.0.0.255/eth0", "10.0.0.1//eth0", "0.0.0.0", "224.0.0.1", "IPaddr::", "IPaddr::x",
		"IPaddr::10.0.0.1::y", "IPv6addr::2001:db8::1/129", "::1", "ff02::1", "2001:db8::1/64/eth0/x",
		"::x", "a::::b", "\\", "1.2.3.4.5", "fe80::1%eth0", "IPaddr::10.0.0.1/24/this-name-is-too-long0",
		// IPv6 with IPaddr/IPaddr2: no broadcast, prefix 1..128, no zone,
		// no link-local without an interface
		"IPaddr2::fd00::10/64/eth0/fd00::ff", "IPaddr2::fd00::10/64/fd00::ff", "IPaddr::fd00::10/64/eth0/x",
		"IPaddr2::fd00::10/129", "IPaddr2::fd00::10/0", "IPaddr2::fd00::10//eth0", "IPaddr2::fd00::10/64/eth0/x/y",
		"IPaddr2::fd00::10%eth0", "IPaddr2::fe80::1", "IPaddr::fe80::1/64", "IPaddr2::::1", "IPaddr2::ff02::1",
		"IPaddr2::::ffff:10.0.0.1", "IPaddr2::fd00::10::x", "IPaddr2::fd00::10/64/eth0::x",
		"IPv6addr::2001:db8::1/64/2001:db8::ff",
	} {
		if r, err := ParseResource(tok); err == nil {
			t.Errorf("ParseResource(%q) = %+v, want an error", tok, r)
		}
	}
}

func TestParseHaresourcesForms(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "haresources_forms", HaresourcesFile))
	if err != nil {
		t.Fatal(err)
	}
	groups, err := ParseHaresources("haresources", data)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		node  string
		line  int
		toks  []string
		names []string
	}
	var got []summary
	for _, g := range groups {
		s := summary{node: g.Node, line: g.Line}
		for _, r := range g.Resources {
			s.toks = append(s.toks, r.Token)
			s.names = append(s.names, r.Name)
		}
		got = append(got, s)
	}
	want := []summary{
		{"hba", 2, []string{"10.0.0.1", "10.0.0.2/24", "10.0.0.3/24/eth0", "10.0.0.4/24/10.0.0.255", "10.0.0.5/24/eth0/10.0.0.255"},
			[]string{"IPaddr", "IPaddr", "IPaddr", "IPaddr", "IPaddr"}},
		{"hbb", 5, []string{"IPaddr::10.0.1.1", "IPaddr2::10.0.1.2/255.255.255.0/eth1", "IPv6addr::2001:db8::1/64", "2001:db8::2", "2001:db8::3/64/eth0", "httpd"},
			[]string{"IPaddr", "IPaddr2", "IPv6addr", "IPv6addr", "IPv6addr", "httpd"}},
		{"hba", 7, []string{"drbddisk::r0", "Filesystem::/dev/drbd0::/data::ext4::noatime", "OCF::apache::web"},
			[]string{"drbddisk", "Filesystem", "OCF"}},
		{"hbb", 9, []string{"MailTo::root@example.com::takeover", "hbdemo"}, []string{"MailTo", "hbdemo"}},
		{"hba", 10, []string{"IPaddr2::fd00::10/64/eth0", "IPaddr2::fd00::11", "IPaddr::fd00::12/64", "IPaddr2::fe80::13/64/eth1"},
			[]string{"IPaddr2", "IPaddr2", "IPaddr", "IPaddr2"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups =\n%+v\nwant\n%+v", got, want)
	}
	if groups[0].Key() != "10.0.0.1" || groups[2].Key() != "drbddisk::r0" {
		t.Errorf("keys = %q, %q", groups[0].Key(), groups[2].Key())
	}
	if v := groups[4].Resources[0].VIP; v == nil || v.Agent != "IPaddr2" || v.Addr != netip.MustParseAddr("fd00::10") || v.Bits != 64 || v.Iface != "eth0" {
		t.Errorf("IPaddr2::fd00::10/64/eth0: vip %+v", v)
	}
}

func TestParseHaresourcesErrors(t *testing.T) {
	for _, tc := range []struct {
		text  string
		lines []int
		msg   string
	}{
		{"hba httpd\nhbb httpd\n", []int{2}, `resource group "httpd" defined twice (first at line 1)`},
		{"hba\n", []int{1}, "has no resources"},
		{"hba a \\ \n", []int{1}, `stray "\\"`},
		{"hba 1.2.3.4.5 ::x\n", []int{1, 1}, "resource"},
		{"\n# c\nhba x::\n", []int{3}, "empty argument"},
		{"hba IPaddr2::fd00::1/64/eth0/fd00::ff\nhbb IPaddr::fd00::2/64/fd00::ff IPaddr2::fd00::3\n", []int{1, 2}, "IPv6 has no broadcast"},
		{"hba IPaddr2::fd00::1/200 IPaddr2::fe80::1\n", []int{1, 1}, `resource "IPaddr2::f`},
	} {
		_, err := ParseHaresources("haresources", []byte(tc.text))
		errs := Errors(err)
		if len(errs) != len(tc.lines) {
			t.Errorf("%q: got %v, want %d errors", tc.text, err, len(tc.lines))
			continue
		}
		for i, e := range errs {
			var ce *Error
			if !errors.As(e, &ce) || ce.Line != tc.lines[i] || !strings.Contains(ce.Msg, tc.msg) {
				t.Errorf("%q: error %d = %v, want line %d containing %q", tc.text, i, e, tc.lines[i], tc.msg)
			}
		}
	}
}

func TestHaresourcesContinuation(t *testing.T) {
	// a continuation ends where a line has no trailing backslash; comments are
	// removed before joining, as ResourceManager's sed does
	groups, err := ParseHaresources("h", []byte("hbA a \\\n b # c\\\nhbb d\\\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || !slices.Equal(tokens(groups[0]), []string{"a", "b"}) ||
		!slices.Equal(tokens(groups[1]), []string{"d"}) || groups[0].Node != "hba" || groups[1].Line != 3 {
		t.Errorf("groups = %+v", groups)
	}
}

func tokens(g Group) []string {
	var s []string
	for _, r := range g.Resources {
		s = append(s, r.Token)
	}
	return s
}
