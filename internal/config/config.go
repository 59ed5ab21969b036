package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

// File names inside the configuration directory.
const (
	HaCfFile        = "ha.cf"
	HaresourcesFile = "haresources"
	AuthkeysFile    = "authkeys"
)

// Config is the whole v1 configuration: ha.cf (embedded), the resource
// groups of haresources and the keyring of authkeys.
type Config struct {
	HaCf
	// LocalNode is this node's name, lower-cased (uname -n unless
	// overridden).
	LocalNode       string
	HaresourcesPath string
	AuthkeysPath    string
	Groups          []Group
	Keys            wire.Keyring
}

// Options adjust Load.
type Options struct {
	// NodeName overrides the local node name; "" means uname -n.
	NodeName string
	// SkipPermCheck disables the refusal of an authkeys file readable by
	// group or others (for tests and for checking copied configurations).
	SkipPermCheck bool
}

// Load reads dir/ha.cf, dir/haresources and dir/authkeys, parses them and
// runs Validate. All problems of all three files are reported at once; the
// Config is nil when there is any error. Warnings are returned either way.
func Load(dir string, opts Options) (*Config, []Warning, error) {
	c := &Config{
		HaresourcesPath: filepath.Join(dir, HaresourcesFile),
		AuthkeysPath:    filepath.Join(dir, AuthkeysFile),
	}
	hacfPath := filepath.Join(dir, HaCfFile)
	var errs []error
	var warns []Warning

	c.LocalNode = strings.ToLower(opts.NodeName)
	if c.LocalNode == "" {
		h, err := os.Hostname()
		if err != nil {
			errs = append(errs, fmt.Errorf("local node name: %w", err))
		}
		c.LocalNode = strings.ToLower(h)
	}

	hacfOK := false
	if data, err := os.ReadFile(hacfPath); err != nil {
		errs = append(errs, &Error{Path: hacfPath, Msg: "cannot read", Err: err})
	} else {
		cf, w, err := ParseHaCf(hacfPath, data)
		c.HaCf = *cf
		warns = append(warns, w...)
		errs = append(errs, Errors(err)...)
		hacfOK = true
	}
	haresOK := false
	if data, err := os.ReadFile(c.HaresourcesPath); err != nil {
		errs = append(errs, &Error{Path: c.HaresourcesPath, Msg: "cannot read", Err: err})
	} else {
		groups, err := ParseHaresources(c.HaresourcesPath, data)
		c.Groups = groups
		errs = append(errs, Errors(err)...)
		haresOK = true
	}
	if data, err := os.ReadFile(c.AuthkeysPath); err != nil {
		errs = append(errs, &Error{Path: c.AuthkeysPath, Msg: "cannot read", Err: err})
	} else {
		if !opts.SkipPermCheck {
			if fi, err := os.Stat(c.AuthkeysPath); err != nil {
				errs = append(errs, &Error{Path: c.AuthkeysPath, Msg: "cannot stat", Err: err})
			} else if err := CheckKeyfileMode(c.AuthkeysPath, fi.Mode()); err != nil {
				errs = append(errs, err)
			}
		}
		kr, err := ParseAuthkeys(c.AuthkeysPath, data)
		if kr != nil {
			c.Keys = *kr
		}
		errs = append(errs, Errors(err)...)
	}
	if hacfOK {
		if !haresOK {
			c.Groups = nil
		}
		w, err := c.Validate()
		warns = append(warns, w...)
		errs = append(errs, Errors(err)...)
		warns = append(warns, c.hostChecks()...)
	}
	order := map[string]int{hacfPath: 0, c.HaresourcesPath: 1, c.AuthkeysPath: 2}
	slices.SortStableFunc(errs, func(a, b error) int {
		var ea, eb *Error
		if !errors.As(a, &ea) || !errors.As(b, &eb) {
			return 0
		}
		if r := cmp.Compare(order[ea.Path], order[eb.Path]); r != 0 {
			return r
		}
		return lineOrder(ea.Line, eb.Line)
	})
	slices.SortStableFunc(warns, func(a, b Warning) int {
		if r := cmp.Compare(order[a.Path], order[b.Path]); r != 0 {
			return r
		}
		return lineOrder(a.Line, b.Line)
	})
	if len(errs) > 0 {
		return nil, warns, errors.Join(errs...)
	}
	return c, warns, nil
}

// Validate checks the rules that involve more than one directive or file,
// as heartbeat's init_config does at start-up: media and nodes present, the
// local node declared, the timer relations, autojoin off, haresources nodes
// declared.
func (c *Config) Validate() ([]Warning, error) {
	h := &c.HaCf
	d := diag{path: h.Path}
	if h.lines == nil { // a Config not built by ParseHaCf
		h.lines, h.bad = map[string]int{}, map[string]bool{}
	}
	line := func(names ...string) int {
		for _, n := range names {
			if l := h.lines[n]; l > 0 {
				return l
			}
		}
		return 0
	}
	if len(h.Media) == 0 && !h.bad["bcast"] && !h.bad["mcast"] && !h.bad["ucast"] &&
		!h.bad["serial"] && !h.bad["mcast6"] && !h.bad["ucast6"] {
		d.errorf(0, "no heartbeat media defined (need bcast, mcast, ucast, mcast6, ucast6 or serial)")
	}
	if len(h.Nodes) == 0 && h.Autojoin != AutojoinAny {
		d.errorf(0, "no nodes defined (add a node line per cluster member)")
	} else if c.LocalNode != "" && !slices.Contains(h.Nodes, c.LocalNode) && h.Autojoin != AutojoinAny {
		d.errorf(line("node"), "local node %q is not declared by a node directive (nodes are named by uname -n)", c.LocalNode)
	}
	timersOK := !h.bad["keepalive"] && !h.bad["deadtime"]
	if timersOK && h.Deadtime <= 2*h.Keepalive {
		d.errorf(line("deadtime", "keepalive"), "deadtime (%s) must be greater than twice keepalive (%s)", h.Deadtime, h.Keepalive)
	}
	if timersOK && !h.bad["warntime"] && h.IsSet("warntime") && h.Warntime >= h.Deadtime {
		d.warnf(line("warntime"), "warntime (%s) is not less than deadtime (%s): late heartbeats will never be reported", h.Warntime, h.Deadtime)
	}
	if timersOK && !h.bad["initdead"] {
		if h.Initdead < h.Deadtime {
			d.errorf(line("initdead", "deadtime"), "initdead (%s) must not be less than deadtime (%s)", h.Initdead, h.Deadtime)
		} else if h.Initdead < 10*time.Second {
			d.warnf(line("initdead", "deadtime"), "initdead (%s) may be too small: it should be at least deadtime and at least 10s to allow for slow network start-up", h.Initdead)
		}
	}
	if timersOK && !h.bad["deadping"] && h.IsSet("deadping") && h.Deadping <= 2*h.Keepalive {
		d.errorf(line("deadping"), "deadping (%s) must be greater than twice keepalive (%s)", h.Deadping, h.Keepalive)
	}
	if h.AutoFailback == AutoFailbackLegacy && !h.bad["auto_failback"] && !h.bad["nice_failback"] {
		d.warnf(line("auto_failback", "nice_failback"), "deprecated 'legacy' auto_failback option selected; please convert to 'auto_failback on'")
	}
	if h.Autojoin != AutojoinNone {
		d.errorf(line("autojoin"), "autojoin %s conflicts with haresources resource management: it must be none", h.Autojoin)
	}
	rd := diag{path: c.HaresourcesPath}
	for _, g := range c.Groups {
		if !slices.Contains(h.Nodes, g.Node) {
			rd.errorf(g.Line, "bad node name %q in haresources: not declared by a node directive", g.Node)
		}
	}
	sortErrors(d.errs)
	sortErrors(rd.errs)
	errs := append(d.errs, rd.errs...)
	sortWarnings(d.warns)
	return d.warns, join(errs)
}

// hostChecks inspects this machine: respawned programs should exist and be
// executable. Only warnings, since a configuration may be checked on
// another machine than the one it runs on.
func (c *Config) hostChecks() []Warning {
	d := diag{path: c.Path}
	for _, ch := range c.Respawn {
		fi, err := os.Stat(ch.Path)
		switch {
		case err != nil:
			d.warnf(ch.Line, "%s: %v", ch.Path, errors.Unwrap(err))
		case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
			d.warnf(ch.Line, "%s is not executable", ch.Path)
		}
	}
	return d.warns
}

// Parameter returns a value the way "cl_status hbparameter -p name" prints
// it: the text written in ha.cf ("1" for "keepalive 1"), or heartbeat's
// default or derived value ("1000ms", "15000ms"). "crm" is an alias of
// "pacemaker". ok is false for names heartbeat does not record (node,
// apiauth, stonith, nice_failback, ...).
func (h *HaCf) Parameter(name string) (string, bool) {
	if name == "crm" {
		name = "pacemaker"
	}
	v, ok := h.params[name]
	return v, ok
}

// CheckConfig loads dir like Load and writes the verdict to w: each warning
// prefixed "warning: ", then each error on its own line, or
// "configuration OK". It returns the exit status: 0 when valid, 1 otherwise.
func CheckConfig(w io.Writer, dir string, opts Options) int {
	_, warns, err := Load(dir, opts)
	for _, wn := range warns {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	if err != nil {
		for _, e := range Errors(err) {
			fmt.Fprintln(w, e)
		}
		return 1
	}
	fmt.Fprintln(w, "configuration OK")
	return 0
}
