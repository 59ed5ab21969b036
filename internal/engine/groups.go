package engine

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Failback is the auto_failback mode.
type Failback uint8

// auto_failback modes; legacy behaves as on for ownership.
const (
	FailbackLegacy Failback = iota
	FailbackOn
	FailbackOff
)

// Which selects groups relative to a node, as hb_standby/hb_takeover do.
type Which uint8

// Group selections.
const (
	WhichAll     Which = iota // every group
	WhichLocal                // groups whose preferred node is the node
	WhichForeign              // groups preferred by another node ("failback" is an alias)
)

// ParseWhich maps the hb_standby argument.
func ParseWhich(s string) (Which, bool) {
	switch s {
	case "", "all":
		return WhichAll, true
	case "local":
		return WhichLocal, true
	case "foreign", "failback":
		return WhichForeign, true
	}
	return 0, false
}

func (w Which) String() string {
	switch w {
	case WhichLocal:
		return "local"
	case WhichForeign:
		return "foreign"
	}
	return "all"
}

func (w Which) matches(preferred, node string) bool {
	switch w {
	case WhichLocal:
		return preferred == node
	case WhichForeign:
		return preferred != node
	}
	return true
}

// GroupConfig is one haresources line as the engine needs it.
type GroupConfig struct {
	Key       string // the first resource's token
	Preferred string // the node owning it when everybody is up
	// Blocked keeps this node from ever acquiring the group (its resources
	// were found running outside our control at start).
	Blocked bool
}

// Runner starts and stops resource groups. Calls run on their own goroutine,
// at most one at a time per group; the engine never waits for them.
type Runner interface {
	// Acquire starts the group's resources left to right. On error the
	// engine releases the group (Release must cope with a half-started one).
	Acquire(ctx context.Context, group string) error
	// Release stops the group's resources right to left.
	Release(ctx context.Context, group string) error
	// Announce re-sends gratuitous ARP / unsolicited NA for the group's
	// addresses (after a split brain heal).
	Announce(ctx context.Context, group string) error
	// Fence is called when a group could not be stopped: the node must not
	// go on holding half of it (a reboot).
	Fence(ctx context.Context, reason string) error
}

// GroupState is our own state of a resource group.
type GroupState uint8

// Group states (0 = unknown, part of the D-Bus API).
const (
	GroupUnknown GroupState = iota
	GroupStopped
	GroupStarting
	GroupRunning
	GroupStopping
	GroupFailed // start failed here; released, left to the peers
)

var groupStateNames = [...]string{"unknown", "stopped", "starting", "running", "stopping", "failed"}

func (s GroupState) String() string {
	if int(s) < len(groupStateNames) {
		return groupStateNames[s]
	}
	return "unknown"
}

// Stop retries follow 3.0.6: every second, ten times, then self-fence.
const (
	stopRetryEvery = time.Second
	stopRetryMax   = 10
	// fenceRetryEvery is the wait before trying a stop again (and the
	// fence after it) when the fence itself failed.
	fenceRetryEvery = 10 * time.Second
)

type group struct {
	GroupConfig
	state     GroupState
	busy      bool // an Acquire/Release is in flight
	failed    bool // our start failed: not a candidate until it runs elsewhere
	standby   bool // we asked to go standby for it
	retries   int
	retryAt   time.Time
	announced bool // re-announced for the current conflict
	reason    string
	removed   bool   // gone from haresources: dropped once released
	owner     string // the owner last published (OwnerEvent)
	yield     bool   // a peer asked to take it over (hb_takeover): stand by until it holds it
	giving    bool   // being handed to a 3.0.6 peer by a standby exchange
	failback  bool   // taken from a dead/stopped preferred node: give it back when it returns
	from      string // when we acquire it: the node it comes from (last owner, else its preferred node), "" if ours
	fenced    bool   // it could not be stopped and the reboot is under way: a stop does not wait for it
}

// standsBy reports whether we keep away from the group: our own standby, or
// a peer's takeover in progress.
func (g *group) standsBy() bool { return g.standby || g.yield }

func (g *group) held() bool {
	return g.state == GroupStarting || g.state == GroupRunning || g.state == GroupStopping
}

// GroupInfo is a snapshot of one group.
type GroupInfo struct {
	Key       string
	Preferred string
	Owner     string // "" when nobody holds it
	State     GroupState
	Standby   bool
	Failed    bool
}

// opKind is a resource operation handed to the runner.
type opKind uint8

const (
	opAcquire opKind = iota + 1
	opRelease
	opAnnounce
	opFence
)

func (k opKind) String() string {
	switch k {
	case opAcquire:
		return "acquire"
	case opRelease:
		return "release"
	case opAnnounce:
		return "announce"
	}
	return "fence"
}

// opResult reports a finished runner call to the loop.
type opResult struct {
	kind  opKind
	group string
	err   error
}

// peerGroups is what a peer told us about its groups.
type peerGroups struct {
	reported bool // a resource report of the current generation arrived
	repSeq   uint64
	held     []string
	standby  []string
	failed   []string
	// 3.0.6 protocol state (legacy.go)
	legacy       bool     // its reports carry no grp_* fields: Heartbeat 3.0.6
	yield        []string // groups it yields to a takeover request
	startingOnly bool     // it said "starting" and has not reported yet
	unstable     bool     // its last report said isstable=0
	bitL, bitF   bool     // its rsc_hold, relative to itself
}

func (pg *peerGroups) reset() { *pg = peerGroups{} }

// Resource message fields. rsc_hold/rtype/isstable/info are 3.0.6's; the
// grp_* lists are ours (3.0.6 ignores unknown fields) and name the groups by
// their key, so that more than two nodes can share the groups.
const (
	tResource  = "resource"
	tStarting  = "starting"
	tTakeover  = "hb_takeover"
	fHeld      = "grp_held"
	fStandby   = "grp_standby"
	fFailed    = "grp_failed"
	fYield     = "grp_yield" // groups a node gives up to a peer's hb_takeover
	fTakeWhich = "rsc_hold"
)

func (c *core) alive(p *peer) bool {
	return p.heard && p.status != StatusDead && p.status != StatusUnknown && !p.left
}

// anyPeerDead reports a cluster node that is not alive.
func (c *core) anyPeerDead() bool {
	for _, p := range c.peers {
		if !c.alive(p) {
			return true
		}
	}
	return false
}

// stable reports whether we know the holdings of every live peer, so that
// decisions cannot start a group somebody else holds.
func (c *core) stable(now time.Time) bool {
	if !c.knowsAll() || c.xchg != nil || c.legacyInFlux() {
		return false
	}
	return true
}

// knowsAll reports whether we are active and know every live peer's
// holdings.
func (c *core) knowsAll() bool {
	if c.status != StatusActive {
		return false
	}
	for _, p := range c.peers {
		if c.alive(p) && !p.groups.reported {
			return false
		}
		if !p.heard && p.status != StatusDead {
			return false // still within initdead
		}
	}
	return true
}

func (c *core) claimers(g *group) []*peer {
	var out []*peer
	for _, p := range c.peers {
		if c.alive(p) && p.groups.reported && slices.Contains(p.groups.held, g.Key) {
			out = append(out, p)
		}
	}
	return out
}

// candidate returns the node that should take group g when nobody holds it:
// the preferred node, else the first live node in ha.cf order, skipping nodes
// standing by for it or that failed to start it. When everybody eligible
// stands by, standby is ignored: a held group beats an orphan.
func (c *core) candidate(g *group) string {
	order := make([]string, 0, len(c.cfg.Nodes))
	order = append(order, g.Preferred)
	for _, n := range c.cfg.Nodes {
		if n != g.Preferred {
			order = append(order, n)
		}
	}
	// First pass: respect standby and ipfail (nodes reaching fewer ping
	// nodes); second pass: anybody who can run it.
	for _, relaxed := range []bool{false, true} {
		for _, n := range order {
			if n == c.cfg.LocalNode {
				if !g.failed && (relaxed || (!g.standsBy() && !c.weakActed)) {
					return n
				}
				continue
			}
			p := c.byName[n]
			if p == nil || !c.alive(p) || !p.groups.reported {
				continue
			}
			if slices.Contains(p.groups.failed, g.Key) {
				continue
			}
			if !relaxed && (slices.Contains(p.groups.standby, g.Key) || slices.Contains(p.groups.yield, g.Key) || c.pingWeaker(p)) {
				continue
			}
			return n
		}
	}
	return ""
}

// decide compares who holds what with who should, and starts the needed
// acquisitions and releases.
func (c *core) decide(now time.Time) {
	if len(c.groups) == 0 || !c.stable(now) {
		return
	}
	if c.stopping {
		return
	}
	weak := c.pingWeak(now)
	for _, g := range c.groups {
		if g.busy {
			continue
		}
		if g.removed {
			if g.held() {
				c.release(now, g, "removed from haresources")
			}
			continue
		}
		claim := c.claimers(g)
		if g.held() {
			if len(claim) > 0 {
				// Two owners: a healed split brain. The preferred node keeps
				// the group; if it is not among the holders, the first holder
				// in ha.cf order does.
				keeper := c.keeper(g, claim)
				if keeper != c.cfg.LocalNode {
					c.release(now, g, "split brain healed: "+keeper+" keeps the group")
				} else if !g.announced {
					g.announced = true
					c.runOp(now, opAnnounce, g.Key)
				}
				continue
			}
			g.announced = false
			if weak {
				if cand := c.candidateExcept(g, c.cfg.LocalNode); cand != "" {
					c.release(now, g, "ipfail: "+cand+" reaches more ping nodes")
				}
				continue
			}
			if g.standsBy() {
				if cand := c.candidateExcept(g, c.cfg.LocalNode); cand != "" {
					c.release(now, g, "standby")
				}
				continue
			}
			if c.cfg.AutoFailback != FailbackOff && g.Preferred != c.cfg.LocalNode {
				if lp := c.legacyPeer(); lp != nil && lp.name == g.Preferred {
					// 3.0.6 fails back only what it took from a dead
					// node, by going standby for its foreign groups.
					if g.failback && lp.status == StatusActive && !now.Before(c.xRetryAt) {
						if c.startLegacyStandby(now, lp, WhichForeign, "auto_failback to "+lp.name) != nil {
							c.xRetryAt = now.Add(standbyRetry)
						}
						return
					}
					continue
				}
				if p := c.byName[g.Preferred]; p != nil && c.alive(p) && p.groups.reported &&
					p.status == StatusActive && !slices.Contains(p.groups.standby, g.Key) && !slices.Contains(p.groups.yield, g.Key) && !slices.Contains(p.groups.failed, g.Key) && !c.pingWeaker(p) {
					c.release(now, g, "auto_failback to "+g.Preferred)
				}
			}
			continue
		}
		if len(claim) > 0 {
			continue
		}
		if c.candidate(g) == c.cfg.LocalNode {
			c.acquire(now, g)
		}
	}
}

// candidateExcept returns a live node other than node that would take g.
// Nodes yielding g to a takeover or standing by for it do not count, unless
// latestWins: such a node takes g back once it sees us stand by for it.
func (c *core) candidateExcept(g *group, node string, latestWins ...bool) string {
	relaxed := len(latestWins) > 0 && latestWins[0]
	for _, n := range c.cfg.Nodes {
		if n == node {
			continue
		}
		p := c.byName[n]
		if p == nil || !c.alive(p) || !p.groups.reported || slices.Contains(p.groups.failed, g.Key) || c.pingWeaker(p) {
			continue
		}
		if !relaxed && (slices.Contains(p.groups.standby, g.Key) || slices.Contains(p.groups.yield, g.Key)) {
			continue
		}
		return n
	}
	return ""
}

func (c *core) keeper(g *group, claim []*peer) string {
	holders := []string{c.cfg.LocalNode}
	for _, p := range claim {
		holders = append(holders, p.name)
	}
	if slices.Contains(holders, g.Preferred) {
		return g.Preferred
	}
	for _, n := range c.cfg.Nodes {
		if slices.Contains(holders, n) {
			return n
		}
	}
	return c.cfg.LocalNode
}

func (c *core) acquire(now time.Time, g *group) {
	g.state, g.busy, g.reason = GroupStarting, true, ""
	if p := c.byName[g.Preferred]; p != nil {
		g.failback = !c.alive(p) || !p.groups.reported
	}
	g.from = g.owner
	if g.from == "" || g.from == c.cfg.LocalNode {
		g.from = g.Preferred
	}
	if g.from == c.cfg.LocalNode {
		g.from = ""
	}
	c.emit(GroupEvent{At: now, Group: g.Key, Node: g.from, Old: GroupStopped, New: GroupStarting})
	c.reportDue = true
	c.runOp(now, opAcquire, g.Key)
}

func (c *core) release(now time.Time, g *group, reason string) {
	g.failback = false
	old := g.state
	g.state, g.busy, g.reason = GroupStopping, true, reason
	c.emit(GroupEvent{At: now, Group: g.Key, Old: old, New: GroupStopping, Reason: reason})
	c.runOp(now, opRelease, g.Key)
}

func (c *core) runOp(now time.Time, kind opKind, key string) {
	c.out = append(c.out, action{op: kind, group: key})
}

// opDone handles a finished runner call.
func (c *core) opDone(now time.Time, r opResult) []action {
	c.out = c.out[:0]
	g := c.group(r.group)
	if g == nil {
		return c.out
	}
	switch r.kind {
	case opAcquire:
		g.busy = false
		if r.err != nil {
			c.emit(GroupEvent{At: now, Group: g.Key, Node: g.from, Old: GroupStarting, New: GroupStopping, Reason: "start failed", Err: r.err})
			g.failed = true
			g.state, g.busy, g.reason = GroupStopping, true, "start failed"
			c.runOp(now, opRelease, g.Key)
			return c.out
		}
		g.state, g.retries = GroupRunning, 0
		c.emit(GroupEvent{At: now, Group: g.Key, Node: g.from, Old: GroupStarting, New: GroupRunning})
		c.reportDue = true
	case opRelease:
		if r.err != nil {
			g.retries++
			if g.retries >= stopRetryMax {
				c.emit(GroupEvent{At: now, Group: g.Key, Old: GroupStopping, New: GroupStopping, Reason: "stop failed, fencing", Err: r.err})
				c.runOp(now, opFence, g.Key)
				return c.out // stays busy: we hold it until the node is fenced
			}
			c.emit(GroupEvent{At: now, Group: g.Key, Old: GroupStopping, New: GroupStopping, Reason: "stop failed, retrying", Err: r.err})
			g.retryAt = now.Add(stopRetryEvery)
			return c.out
		}
		g.busy, g.retries = false, 0
		newState := GroupStopped
		if g.failed {
			newState = GroupFailed
		}
		old := g.state
		g.state = newState
		c.emit(GroupEvent{At: now, Group: g.Key, Old: old, New: newState, Reason: g.reason})
		c.reportDue = true
		if g.removed {
			c.groups = slices.DeleteFunc(c.groups, func(x *group) bool { return x == g })
		}
	case opFence:
		if r.err != nil {
			// We still hold what we could not stop, and say so: no peer
			// takes it. Try the stop again (and, if it fails, the fence)
			// after a while, rather than staying stuck until a graceful
			// stop gives up.
			c.emit(GroupEvent{At: now, Group: g.Key, Old: g.state, New: g.state, Reason: r.kind.String() + " failed, retrying the stop", Err: r.err})
			g.retryAt = now.Add(fenceRetryEvery)
			return c.out
		}
		// The reboot is queued. We keep the group (and heartbeating) until
		// the reboot stops us; then we leave without a good-bye, so that the
		// peers take it over only after deadtime, when the node is down.
		g.fenced = true
		if c.stopping && !c.saidBye && c.onlyFencedHeld() {
			c.abandoned = true
		}
		return c.out
	case opAnnounce:
		if r.err != nil {
			c.emit(GroupEvent{At: now, Group: g.Key, Old: g.state, New: g.state, Reason: r.kind.String() + " failed", Err: r.err})
		}
		return c.out
	}
	c.afterGroupChange(now)
	return c.out
}

// afterGroupChange sends a due report and runs the decisions again.
func (c *core) afterGroupChange(now time.Time) {
	defer c.publishOwners(now)
	if !c.discovered && c.knowsAll() {
		c.discovered = true
	}
	c.xchgProgress(now)
	c.decide(now)
	if !c.reportDue && len(c.groups) > 0 && c.settled() != c.sentStable && c.hasLegacyPeer() {
		c.reportDue = true // tell a 3.0.6 peer when we become (un)stable
	}
	if !c.reportDue && len(c.groups) > 0 && c.discovered && c.sentHold != "" && c.rscHold() != c.sentHold {
		// A category without groups changed hands (a peer came or went):
		// the peers' view of who holds what must follow.
		c.reportDue = true
	}
	if c.reportDue {
		c.sendReport(now, "")
	}
	if c.stopping && !c.saidBye {
		c.releaseAllForStop(now)
		if c.allReleased() {
			c.bye(now)
		} else if c.onlyFencedHeld() {
			c.abandoned = true
		}
	}
}

// onlyFencedHeld reports whether every group still held is being fenced.
func (c *core) onlyFencedHeld() bool {
	for _, g := range c.groups {
		if (g.held() || g.busy) && !g.fenced {
			return false
		}
	}
	return true
}

func (c *core) allReleased() bool {
	for _, g := range c.groups {
		if g.held() || g.busy {
			return false
		}
	}
	return true
}

func (c *core) group(key string) *group {
	for _, g := range c.groups {
		if g.Key == key {
			return g
		}
	}
	return nil
}

// retryStops re-issues releases whose retry time has come.
func (c *core) retryStops(now time.Time) {
	for _, g := range c.groups {
		if g.state == GroupStopping && g.busy && !g.retryAt.IsZero() && !now.Before(g.retryAt) {
			g.retryAt = time.Time{}
			c.runOp(now, opRelease, g.Key)
		}
	}
}

// rscHold renders our holdings as 3.0.6's rsc_hold: which categories of
// groups (local: preferred by us; foreign: preferred by others) we hold.
func (c *core) rscHold() string {
	var anyLocal, anyForeign bool
	local, foreign := true, true
	for _, g := range c.groups {
		held := g.held() && !g.giving
		if g.Preferred == c.cfg.LocalNode {
			anyLocal = true
			local = local && held
		} else {
			anyForeign = true
			foreign = foreign && held
		}
	}
	local = anyLocal && local
	foreign = anyForeign && foreign
	// A category without groups counts as held once we know the peers, as
	// 3.0.6's i_hold_resources does (else a 3.0.6 peer logs "No one owns
	// ..."): our empty local category unless a peer claims our share as
	// its foreign one (req_our_resources), an empty foreign category while
	// a peer is dead (takeover_from_node). The second depends on liveness
	// only and the first follows it: two derived claims that watched each
	// other would flip back and forth for ever.
	vacuous := c.discovered && !c.stopping && c.xchg == nil
	if !anyLocal && vacuous && !c.peerClaims(false) {
		local = true
	}
	if !anyForeign && vacuous && local && c.anyPeerDead() {
		foreign = true
	}
	switch {
	case local && foreign:
		return "all"
	case local:
		return "local"
	case foreign:
		return "foreign"
	}
	return "none"
}

func (c *core) hasLegacyPeer() bool {
	for _, p := range c.peers {
		if c.alive(p) && (p.groups.legacy || p.groups.startingOnly) {
			return true
		}
	}
	return false
}

func (c *core) sendReport(now time.Time, info string) {
	c.reportDue = false
	var held, standby, failed, yield []string
	for _, g := range c.groups {
		if g.held() {
			held = append(held, g.Key)
		}
		if g.yield {
			yield = append(yield, g.Key)
		}
		if g.standby {
			standby = append(standby, g.Key)
		}
		if g.failed {
			failed = append(failed, g.Key)
		}
	}
	m := c.build(tResource, "")
	c.sentHold = c.rscHold()
	m.Add("rsc_hold", c.sentHold)
	m.Add("rtype", "full")
	c.sentStable = c.settled() && info != infoStandby && info != infoShutdown
	if c.sentStable {
		m.Add("isstable", "1")
	} else {
		m.Add("isstable", "0")
	}
	if info != "" {
		m.Add("info", info)
	}
	m.Add(fHeld, strings.Join(held, " "))
	m.Add(fStandby, strings.Join(standby, " "))
	m.Add(fFailed, strings.Join(failed, " "))
	m.Add(fYield, strings.Join(yield, " "))
	c.send(now, m)
}

// groupMessage handles the resource-management messages of a peer.
func (c *core) groupMessage(now time.Time, p *peer, t string, seq uint64, get func(string) (string, bool)) {
	switch t {
	case tStarting:
		// A node that just went active holds nothing; a 3.0.6 node will
		// now acquire its own groups unless we hold them: it is in flux.
		p.groups.reset()
		p.groups.reported, p.groups.startingOnly, p.groups.unstable, p.groups.repSeq = true, true, true, seq
		c.sendReport(now, "")
	case tAskResources:
		hold, _ := get(fTakeWhich)
		info, _ := get("info")
		c.askResources(now, p, hold, info)
	case tResource:
		if seq < p.groups.repSeq {
			return // an older report delivered late (retransmission)
		}
		p.groups.reported = true
		p.groups.repSeq = seq
		if _, ok := get(fHeld); !ok {
			hold, _ := get("rsc_hold")
			rtype, _ := get("rtype")
			st, hasStable := get("isstable")
			c.legacyReport(now, p, hold, rtype, st, hasStable)
			break
		}
		p.groups.legacy, p.groups.startingOnly, p.groups.unstable = false, false, false
		if hold, ok := get("rsc_hold"); ok {
			p.groups.bitL, p.groups.bitF = holdBits(hold)
		}
		if v, ok := get(fHeld); ok {
			p.groups.held = strings.Fields(v)
			sv, _ := get(fStandby)
			prev := p.groups.standby
			p.groups.standby = strings.Fields(sv)
			for _, g := range c.groups {
				if g.standsBy() && slices.Contains(p.groups.standby, g.Key) && !slices.Contains(prev, g.Key) {
					// A node goes standby for a group we yielded to a
					// takeover or stood by for ourselves: the latest
					// request wins, we are a candidate for it again.
					g.yield, g.standby = false, false
					c.reportDue = true
				}
			}
			fv, _ := get(fFailed)
			p.groups.failed = strings.Fields(fv)
			yv, _ := get(fYield)
			p.groups.yield = strings.Fields(yv)
		} else {
			// A Heartbeat 3.0.6 node: only categories are known.
			hold, _ := get("rsc_hold")
			p.groups.held = p.groups.held[:0]
			for _, g := range c.groups {
				local := g.Preferred == p.name
				if hold == "all" || (hold == "local" && local) || (hold == "foreign" && !local) {
					p.groups.held = append(p.groups.held, g.Key)
				}
			}
		}
	case tTakeover:
		w, _ := get(fTakeWhich)
		if p.groups.legacy && len(c.peers) == 1 {
			// 3.0.6's rc.d/hb_takeover runs hb_standby with the mirror
			// selection on the receiving node.
			if which, ok := takeoverToStandby(w); ok {
				if err := c.startLegacyStandby(now, p, which, "hb_takeover from "+p.name); err != nil {
					c.emit(StandbyEvent{At: now, Peer: p.name, Role: "me", Phase: "ignored", Which: which.String(), Reason: "hb_takeover while in flux"})
				}
			}
			break
		}
		which, ok := ParseWhich(w)
		if !ok {
			return
		}
		changed := false
		for _, g := range c.groups {
			if which.matches(g.Preferred, p.name) && !g.yield {
				g.yield = true
				changed = true
			}
		}
		if changed {
			c.reportDue = true
		}
	default:
		return
	}
	c.afterGroupChange(now)
}

// Standby gives up groups (hb_standby): they move to another node.
func (c *core) standbyReq(now time.Time, which Which) ([]action, error) {
	c.out = c.out[:0]
	if lp := c.legacyPeer(); lp != nil {
		err := c.startLegacyStandby(now, lp, which, "standby requested")
		return c.out, err
	}
	var n int
	for _, g := range c.groups {
		if which.matches(g.Preferred, c.cfg.LocalNode) {
			if c.candidateExcept(g, c.cfg.LocalNode, true) == "" && g.held() {
				return c.out, ErrNoPeer
			}
			g.standby = true
			n++
		}
	}
	c.reportDue = n > 0
	c.afterGroupChange(now)
	return c.out, nil
}

// takeoverReq pulls groups to this node (hb_takeover).
func (c *core) takeoverReq(now time.Time, which Which) []action {
	c.out = c.out[:0]
	for _, g := range c.groups {
		if which.matches(g.Preferred, c.cfg.LocalNode) {
			g.standby = false
			g.failed = false
			g.yield = false
		}
	}
	m := c.build(tTakeover, "")
	m.Add(fTakeWhich, which.String())
	c.send(now, m)
	c.reportDue = true
	c.afterGroupChange(now)
	return c.out
}

func (c *core) groupSnapshot() []GroupInfo {
	var out []GroupInfo
	for _, g := range c.groups {
		gi := GroupInfo{Key: g.Key, Preferred: g.Preferred, State: g.state, Standby: g.standby, Failed: g.failed}
		if g.held() {
			gi.Owner = c.cfg.LocalNode
		} else if cl := c.claimers(g); len(cl) > 0 {
			gi.Owner = cl[0].name
		}
		out = append(out, gi)
	}
	return out
}

// askMissingReports asks again (a `starting` message, which every peer
// answers with its resource report) while a live peer's report is missing:
// its first report may have been sent before we listened, and the sequence
// window starts at the first message we heard, so it is never retransmitted.
func (c *core) askMissingReports(now time.Time) {
	if len(c.groups) == 0 || c.status != StatusActive || c.stopping {
		return
	}
	missing := false
	for _, p := range c.peers {
		if c.alive(p) && !p.groups.reported {
			missing = true
		}
	}
	if !missing || now.Sub(c.askedReports) < max(2*c.cfg.Keepalive, 200*time.Millisecond) {
		return
	}
	c.askedReports = now
	// `starting` also tells the peers we hold nothing (3.0.6's meaning):
	// our report follows at once and corrects that.
	c.send(now, c.build(tStarting, ""))
	c.sendReport(now, "")
}

// publishOwners emits an OwnerEvent for every group whose owner changed.
func (c *core) publishOwners(now time.Time) {
	for _, g := range c.groups {
		o := ""
		if g.held() {
			o = c.cfg.LocalNode
		} else if cl := c.claimers(g); len(cl) > 0 {
			o = cl[0].name
		}
		if o != g.owner {
			c.emit(OwnerEvent{At: now, Group: g.Key, Old: g.owner, Owner: o})
			g.owner = o
		}
	}
}
