package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/linuxha/heartbeat/internal/engine"
)

// Kind is the medium type of one ha.cf line.
type Kind int

// Medium kinds, named after their ha.cf directive.
const (
	Bcast Kind = iota + 1
	Mcast
	Ucast
	Mcast6
	Ucast6
	Serial
)

// String returns the ha.cf directive of k.
func (k Kind) String() string {
	switch k {
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
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Spec describes one medium line of ha.cf. The daemon maps its configuration
// to Specs; "bcast eth0 eth1" becomes one Spec per interface.
type Spec struct {
	Kind  Kind
	Dev   string       // network interface (all kinds but Serial)
	Peers []netip.Addr // Ucast, Ucast6: peers, one per ha.cf line usually
	Group netip.Addr   // Mcast, Mcast6: multicast group
	Port  int          // UDP port (udpport for bcast/ucast, the line's port for mcast)
	TTL   int          // Mcast: TTL, Mcast6: hop limit (0 means 1)
	Loop  bool         // Mcast, Mcast6: multicast loopback
	Path  string       // Serial: device path
	Baud  int          // Serial: speed (0 means 19200)
	Line  int          // ha.cf line number, for errors (0: unknown)
}

// String renders s as the start of its ha.cf line ("ucast eth0").
func (s Spec) String() string {
	if s.Kind == Serial {
		return "serial " + s.Path
	}
	return s.Kind.String() + " " + s.Dev
}

// DefaultPort is Heartbeat's UDP port (IANA "ha-cluster").
const DefaultPort = 694

// DefaultBaud is Heartbeat's default serial speed.
const DefaultBaud = 19200

// MaxDatagram is the largest datagram a medium sends or delivers.
const MaxDatagram = 64 * 1024

// Options are the environment of Open.
type Options struct {
	// Logger receives medium up/down events (key "medium"). Nil discards.
	Logger *slog.Logger
	// Sockets are already bound receive sockets (systemd socket
	// activation), keyed by ReceiveSocketKey. A socket is used for the
	// first open of its medium instead of binding a new one; Open closes
	// the files it uses (the socket lives on in the medium), the caller
	// keeps the others. After a failure the medium binds its
	// own socket.
	Sockets map[string]*os.File
	// LocalAddrs are addresses to treat as this host's own in addition to
	// those found on the interfaces: ucast lines naming them are skipped
	// and packets from them are dropped.
	LocalAddrs []netip.Addr
	// Retry is the delay between reopen attempts of a failed medium, and
	// the interval of its interface check when the kernel's change reports
	// (netlink) are unavailable. While they are, a medium that is up checks
	// its interface on each report, and every backstopInterval in any case.
	// Zero means one second.
	Retry time.Duration
	// ConfigName prefixes errors ("ha.cf:12: ucast eth9: ..."). Empty
	// means "ha.cf".
	ConfigName string
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o.Logger
}

func (o Options) retry() time.Duration {
	if o.Retry <= 0 {
		return time.Second
	}
	return o.Retry
}

// SpecError is a medium that could not be opened.
type SpecError struct {
	Config string // Options.ConfigName
	Line   int
	Spec   string // "ucast eth9"
	Err    error
}

func (e *SpecError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %v", e.Config, e.Line, e.Spec, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Spec, e.Err)
}

func (e *SpecError) Unwrap() error { return e.Err }

// ErrNoInterface is wrapped by errors about an interface that does not exist.
var ErrNoInterface = errors.New("no such interface")

// ErrDown is wrapped by Send errors of a medium that is down and reopening.
var ErrDown = errors.New("medium down")

// ReceiveSocketKey returns the Options.Sockets key of the receive socket the
// medium of s binds: "udp:<dev>:<port>" (bcast, ucast), "udp6:<dev>:<port>"
// (ucast6), "udp:<dev>:<group>:<port>" (mcast), "udp6:<dev>:<group>:<port>"
// (mcast6); "" for serial. A socket given for a key must be a UDP socket of
// that family bound to the port (and group) with SO_BINDTODEVICE to dev.
func ReceiveSocketKey(s Spec) string {
	port := strconv.Itoa(s.port())
	switch s.Kind {
	case Bcast, Ucast:
		return "udp:" + s.Dev + ":" + port
	case Ucast6:
		return "udp6:" + s.Dev + ":" + port
	case Mcast:
		return "udp:" + s.Dev + ":" + s.Group.String() + ":" + port
	case Mcast6:
		return "udp6:" + s.Dev + ":" + s.Group.String() + ":" + port
	}
	return ""
}

func (s Spec) port() int {
	if s.Port == 0 {
		return DefaultPort
	}
	return s.Port
}

// Open opens the media of specs. ucast/bcast specs on the same interface and
// port are merged into one medium named after the interface; ucast peers that
// are this host's own addresses are skipped (a spec left without peers opens
// nothing). Every failure is reported (errors.Join of *SpecError) and then no
// medium is left open. The media run until Close; ctx only bounds Open.
func Open(ctx context.Context, specs []Spec, opts Options) ([]engine.Medium, error) {
	if opts.ConfigName == "" {
		opts.ConfigName = "ha.cf"
	}
	var (
		out  []engine.Medium
		errs []error
	)
	var udp []Spec
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if s.Kind != Serial {
			udp = append(udp, s)
			continue
		}
		m, err := openSerial(s, opts)
		if err != nil {
			errs = append(errs, &SpecError{Config: opts.ConfigName, Line: s.Line, Spec: s.String(), Err: err})
			continue
		}
		out = append(out, m)
	}
	if len(udp) > 0 {
		ms, err := openUDP(udp, opts)
		out = append(out, ms...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		for _, m := range out {
			_ = m.Close()
		}
		return nil, errors.Join(errs...)
	}
	return out, nil
}
