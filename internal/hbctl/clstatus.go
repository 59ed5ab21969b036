package hbctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// cl_status exit codes of Heartbeat 3.0.6.
const (
	clOK           = 0
	clNormalFail   = 1 // node or link down, heartbeat stopped
	clParamError   = 11
	clUnknownError = 13
)

const clStatusHelp = `Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
clientstatus <node-name> <client-id> [<timeout>]
	Show the status of heartbeat clients.
hblinkstatus <node-name> <link-name>
	Show the status of a heartbeat link
hbstatus
	Indicate if heartbeat is running on the local system.
	Options:
		-v	verbose: also add "listnodes -v" output
listnodes [<option>]
	List the nodes in the cluster.
	Options:
		-p	list only 'ping' type nodes
		-n	list only 'normal' type nodes
		-v	verbose: also list type and status,
			then add "listhblinks -v" output
listhblinks <node-name>
	List the network interfaces used as hearbeat links.
	Options:
		-v	verbose: list link status as well
nodestatus <node-name>
	List the node status.
nodeweight <node-name>
	List the node weight.
nodesite <node-name>
	List the node site.
nodetype <node-name>
	List the nodes of a given type.
rscstatus
	Show the status of cluster resources.
hbparameter -p <parameter-name>
	Retrieve the value of a cluster parameter.
	As for the valid parameter names, please refer to the man page.
`

// clStatus is one cl_status run: its output, error log and options.
type clStatus struct {
	out, errw io.Writer
	host      string
	pid       int
	now       func() time.Time
	human     bool // -m
}

// logf writes an error the way 3.0.6's cl_log does on stderr.
func (c *clStatus) logf(format string, args ...any) {
	fmt.Fprintf(c.errw, "%s %s cl_status: [%d]: ERROR: %s\n", c.now().Format("Jan 02 15:04:05"), c.host, c.pid, fmt.Sprintf(format, args...))
}

// getopt parses args like POSIX getopt with GNU permutation: it returns the
// options seen (with the argument of those in withArg) and the operands.
// An unknown option is reported as '?'.
func getopt(args []string, optstr string) (opts []rune, optargs map[rune]string, operands []string) {
	optargs = map[rune]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			operands = append(operands, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for j, r := range a[1:] {
			k := strings.IndexRune(optstr, r)
			if k < 0 || r == ':' {
				opts = append(opts, '?')
				continue
			}
			opts = append(opts, r)
			if k+1 < len(optstr) && optstr[k+1] == ':' {
				if rest := a[1+j+1:]; rest != "" {
					optargs[r] = rest
				} else if i+1 < len(args) {
					i++
					optargs[r] = args[i]
				} else {
					opts[len(opts)-1] = '?'
				}
				break
			}
		}
	}
	return opts, optargs, operands
}

// simpleOpts handles the sub-commands that only know -m.
func (c *clStatus) simpleOpts(args []string) ([]string, bool) {
	opts, _, operands := getopt(args, "m")
	for _, o := range opts {
		if o != 'm' {
			c.logf("Error: getopt returned character %c.", o)
			return nil, false
		}
		c.human = true
	}
	return operands, true
}

// clStatusCommand runs cl_status args[1:] (args[0] is the program name).
// dial is called only by the sub-commands that talk to the daemon.
func clStatusCommand(ctx context.Context, args []string, c *clStatus, dial func(context.Context) (Source, error)) int {
	if len(args) == 1 || (len(args) == 2 && strings.HasPrefix(args[1], "-h")) {
		fmt.Fprint(c.out, clStatusHelp)
		return clOK
	}
	sub, rest := args[1], args[2:]
	if sub == "parameter" {
		sub = "hbparameter"
	}
	switch sub {
	case "hbstatus", "listnodes", "nodestatus", "nodeweight", "nodesite", "nodetype",
		"listhblinks", "hblinkstatus", "clientstatus", "rscstatus", "hbparameter":
	default:
		c.logf("%s: invalid sub-command.", args[1])
		return clParamError
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // 3.0.6's alarm(5)
	defer cancel()
	src, err := dial(ctx)
	if err != nil {
		if sub == "hbstatus" {
			opts, _, _ := getopt(rest, "mv")
			fmt.Fprintln(c.out, "Heartbeat is stopped on this machine.")
			for _, o := range opts {
				if o == 'v' {
					fmt.Fprintln(c.out, "(hb_api_signon: Can't initiate connection to heartbeat)")
					break
				}
			}
			return clNormalFail
		}
		c.logf("Cannot signon with heartbeat")
		c.logf("REASON: hb_api_signon: Can't initiate connection to heartbeat")
		return clNormalFail
	}
	defer src.Close()
	cl, err := src.Cluster(ctx)
	if err != nil {
		c.logf("Cannot signon with heartbeat")
		c.logf("REASON: %v", err)
		return clNormalFail
	}
	compatLocalLinks(cl)
	switch sub {
	case "hbstatus":
		return c.hbstatus(ctx, src, cl, rest)
	case "listnodes":
		opts, _, _ := getopt(rest, "mpnv")
		var normal, ping, verbose bool
		for _, o := range opts {
			switch o {
			case 'm':
				c.human = true
			case 'p':
				ping = true
			case 'n':
				normal = true
			case 'v':
				verbose = true
			default:
				c.logf("Error: getopt returned character code %c.", o)
				return clParamError
			}
		}
		c.listNodes(cl, normal, ping, verbose)
		return clOK
	case "listhblinks":
		opts, _, operands := getopt(rest, "mv")
		verbose := false
		for _, o := range opts {
			switch o {
			case 'm':
				c.human = true
			case 'v':
				verbose = true
			default:
				c.logf("Error: getopt returned character code %c.", o)
				return clParamError
			}
		}
		if len(operands) < 1 {
			fmt.Fprintln(c.errw, "No enough parameter.")
			return clParamError
		}
		n, ok := cl.Node(operands[0])
		if !ok {
			c.logf("Cannot start heartbeat link interface walk.")
			c.logf("REASON: Unknown node name")
			return clUnknownError
		}
		c.listLinks(n, verbose)
		return clOK
	case "hbparameter":
		opts, optargs, _ := getopt(rest, "mp:")
		for _, o := range opts {
			switch o {
			case 'm':
				c.human = true
			case 'p':
			default:
				c.logf("Error: getopt returned character code %c.", o)
				return clParamError
			}
		}
		name, ok := optargs['p']
		if !ok {
			c.logf("parameter name required")
			return clParamError
		}
		v, err := src.Parameter(ctx, name)
		if err != nil {
			c.logf("Cannot get parameter %s's value", name)
			var re *RemoteError
			if errors.As(err, &re) && strings.HasSuffix(re.Name, ".NotFound") {
				c.logf("REASON: no such parameter")
			} else {
				c.logf("REASON: %v", err)
			}
			return clNormalFail
		}
		if c.human {
			fmt.Fprintf(c.out, "Heartbeat parameter %s's value: %s\n", name, v)
		} else {
			fmt.Fprintln(c.out, v)
		}
		return clOK
	}
	operands, ok := c.simpleOpts(rest)
	if !ok {
		return clParamError
	}
	return c.nodeCommand(sub, cl, operands)
}

// nodeCommand runs the sub-commands that take a node (and more) operands.
func (c *clStatus) nodeCommand(sub string, cl *Cluster, operands []string) int {
	need := map[string]int{"hblinkstatus": 2, "clientstatus": 2, "rscstatus": 0}[sub]
	if _, ok := map[string]bool{"hblinkstatus": true, "clientstatus": true, "rscstatus": true}[sub]; !ok {
		need = 1
	}
	if len(operands) < need {
		switch sub {
		case "nodestatus", "nodeweight", "nodesite":
			fmt.Fprintln(c.errw, "Not enough parameters.")
		default:
			fmt.Fprintln(c.errw, "No enough parameter.")
		}
		return clParamError
	}
	switch sub {
	case "rscstatus":
		if c.human {
			fmt.Fprintf(c.out, "This node is holding %s resources.\n", cl.ResourceState)
		} else {
			fmt.Fprintln(c.out, cl.ResourceState)
		}
		return clOK
	case "clientstatus":
		c.logf("Cannot get heartbeat client %s's status", operands[1])
		c.logf("REASON: No timely response.")
		return clUnknownError
	}
	n, found := cl.Node(operands[0])
	switch sub {
	case "nodestatus":
		if !found {
			fmt.Fprintln(c.errw, "Error. May be due to incorrect node name")
			return clParamError
		}
		if c.human {
			fmt.Fprintf(c.out, "The cluster node %s is %s\n", operands[0], n.Status)
		} else {
			fmt.Fprintln(c.out, n.Status)
		}
		switch n.Status {
		case "active", "up", "ping":
			return clOK
		}
		return clNormalFail
	case "nodeweight":
		if !found {
			fmt.Fprintln(c.errw, "Error. Maybe due to incorrect node name.")
			return clParamError
		}
		if c.human {
			fmt.Fprintf(c.out, "The weight of the cluster node %s is %d\n", operands[0], 100)
		} else {
			fmt.Fprintln(c.out, 100)
		}
		return clOK
	case "nodesite":
		if !found {
			fmt.Fprintln(c.errw, "Error. May be due to incorrect node name")
			return clParamError
		}
		if c.human {
			fmt.Fprintf(c.out, "The site of the cluster node %s is %s\n", operands[0], "")
		} else {
			fmt.Fprintln(c.out)
		}
		return clOK
	case "nodetype":
		if !found {
			fmt.Fprintln(c.errw, "Error. May be due to incorrect node name")
			return clParamError
		}
		if c.human {
			fmt.Fprintf(c.out, "The node %s's type: %s\n", operands[0], n.Type)
		} else {
			fmt.Fprintln(c.out, n.Type)
		}
		return clOK
	case "hblinkstatus":
		var status string
		if found {
			for _, l := range n.Links {
				if l.Name == operands[1] {
					status = l.Status
				}
			}
		}
		if status == "" {
			c.logf("Cannot get heartbeat link status")
			c.logf("REASON: %s", "Unknown node or link name")
			return clUnknownError
		}
		if c.human {
			fmt.Fprintf(c.out, "The node %s's heartbeat link %s is %s\n", operands[0], operands[1], status)
		} else {
			fmt.Fprintln(c.out, status)
		}
		if status == "up" {
			return clOK
		}
		return clNormalFail
	}
	return clUnknownError
}

func (c *clStatus) hbstatus(ctx context.Context, src Source, cl *Cluster, args []string) int {
	opts, _, _ := getopt(args, "mv")
	verbose := false
	for _, o := range opts {
		switch o {
		case 'm':
			c.human = true
		case 'v':
			verbose = true
		}
	}
	if !verbose {
		fmt.Fprintln(c.out, "Heartbeat is running on this machine.")
		return clOK
	}
	version := cl.Version
	if v, err := src.Parameter(ctx, "hbversion"); err == nil && v != "" {
		version = v
	}
	c.hbstatusVerbose(cl, version)
	return clOK
}

// hbstatusVerbose prints "cl_status hbstatus -v" of a running daemon.
func (c *clStatus) hbstatusVerbose(cl *Cluster, version string) {
	if c.human {
		fmt.Fprintf(c.out, "Heartbeat version %s\n", version)
		fmt.Fprintln(c.out, `Resources controlled by "haresources"`)
	} else {
		if version == "" {
			version = "unknown"
		}
		fmt.Fprintf(c.out, "version:\t%s\n", version)
		fmt.Fprintln(c.out, "managed by:\t\"haresources\"")
	}
	c.listNodes(cl, false, false, true)
}

// listNodes prints "cl_status listnodes".
func (c *clStatus) listNodes(cl *Cluster, normal, ping, verbose bool) {
	if normal && ping {
		normal, ping = false, false
	}
	if c.human {
		fmt.Fprintln(c.out, "The nodes are as follow:")
	}
	// 3.0.6's client library prepends each node to its list, so it prints
	// them in reverse ha.cf order; so do we.
	for i := len(cl.Nodes) - 1; i >= 0; i-- {
		n := &cl.Nodes[i]
		if normal && n.Type != "normal" || ping && n.Type != "ping" {
			continue
		}
		if verbose {
			fmt.Fprintf(c.out, "\n%s\t%s\t(nodetype: %s)\n", n.Name, n.Status, n.Type)
			c.listLinks(n, true)
		} else {
			fmt.Fprintln(c.out, n.Name)
		}
	}
}

// listLinks prints "cl_status listhblinks".
func (c *clStatus) listLinks(n *Node, verbose bool) {
	if c.human {
		fmt.Fprintln(c.out, "\tthis node has the following heartbeat links:")
	}
	for _, l := range n.Links {
		if verbose {
			fmt.Fprintf(c.out, "\t%s\t%s\n", l.Name, l.Status)
		} else {
			fmt.Fprintf(c.out, "\t%s\n", l.Name)
		}
	}
}

// compatLocalLinks gives the local node the links of its peers, as dead:
// 3.0.6 lists every medium for its own node and, not hearing its own
// packets on unicast media, reports them dead. The daemon does not track
// links to itself.
func compatLocalLinks(cl *Cluster) {
	var names []string
	seen := map[string]bool{}
	for _, n := range cl.Nodes {
		for _, l := range n.Links {
			if !seen[l.Name] {
				seen[l.Name] = true
				names = append(names, l.Name)
			}
		}
	}
	for i := range cl.Nodes {
		if cl.Nodes[i].Local && len(cl.Nodes[i].Links) == 0 {
			for _, name := range names {
				cl.Nodes[i].Links = append(cl.Nodes[i].Links, Link{Name: name, Status: "dead"})
			}
		}
	}
}

// hbStandbyCommand runs hb_standby or hb_takeover (takeover true).
func hbStandbyCommand(ctx context.Context, args []string, out, errw io.Writer, now func() time.Time, takeover bool, dial func(context.Context) (Source, error)) int {
	which := "all"
	if len(args) > 2 {
		which = "" // too many arguments
	} else if len(args) == 2 {
		which = args[1]
	}
	switch which {
	case "all", "foreign", "local", "failback":
	default:
		fmt.Fprintf(out, "usage:\n%s [all|foreign|local|failback]\n", args[0])
		return 1
	}
	if !takeover {
		fmt.Fprintf(errw, "%s Going standby [%s].\n", now().Format("Jan 02 15:04:05"), which)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	src, err := dial(ctx)
	if err != nil {
		fmt.Fprintf(errw, "%s: %v\n", progName(args[0]), err)
		return 1
	}
	defer src.Close()
	if takeover {
		err = src.Takeover(ctx, which)
	} else {
		err = src.Standby(ctx, which)
	}
	if err != nil {
		fmt.Fprintf(errw, "%s: %v\n", progName(args[0]), err)
		return 1
	}
	return 0
}
