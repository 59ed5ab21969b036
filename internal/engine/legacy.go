package engine

import (
	"slices"
	"strings"
	"time"
)

// This file speaks Heartbeat 3.0.6's two-node resource protocol with a peer
// that does not send our grp_* fields (a "legacy" peer): the isstable
// handshake, the three-phase hb_standby exchange (ask_resources info=me,
// other, done), hb_takeover, auto_failback by standby of the foreign groups,
// and the stonith notices. See docs/interop-3.0.6.md.

// Message types and values of 3.0.6's resource management.
const (
	tAskResources = "ask_resources"
	tStonith      = "stonith"
	infoMe        = "me"
	infoOther     = "other"
	infoDone      = "done"
	infoStandby   = "standby"
	infoShutdown  = "shutdown"
	infoMachDown  = "mach_down"
	// standbyAnswerWait is how long an asking node waits for "other"
	// (STANDBY_INIT_TO_MS of 3.0.6).
	standbyAnswerWait = 10 * time.Second
	// standbyWorkWait bounds the rest of an exchange (3.0.6 allows an hour;
	// a peer that vanishes is noticed by deadtime long before).
	standbyWorkWait = 10 * time.Minute
	// standbyRetry spaces automatic (auto_failback) standby attempts.
	standbyRetry = 2 * time.Second
)

// xRole is our side of a standby exchange.
type xRole uint8

const (
	xMe    xRole = iota + 1 // we go standby: we release, the peer acquires
	xOther                  // the peer goes standby: we acquire
)

// xPhase is where an exchange is.
type xPhase uint8

const (
	xAsked    xPhase = iota + 1 // me sent, waiting for other
	xWaitDone                   // other sent, waiting for the peer's done
	xWork                       // releasing (me) or acquiring (other)
	xDoneSent                   // me: our done sent, waiting for the peer's done
)

// exchange is one hb_standby exchange with a legacy peer.
type exchange struct {
	role   xRole
	phase  xPhase
	peer   *peer
	hold   string   // rsc_hold of the exchange, relative to the node going standby
	groups []string // groups we release (me) or acquire (other)
	until  time.Time
	reason string
}

// legacyPeer returns the only other node when it is a live 3.0.6 peer;
// the 3.0.6 protocol is a two-node protocol.
func (c *core) legacyPeer() *peer {
	if len(c.peers) != 1 {
		return nil
	}
	p := c.peers[0]
	if !c.alive(p) || !p.groups.legacy {
		return nil
	}
	return p
}

// settled is our isstable: active, discovered, no resource operation and no
// standby exchange in flight. It does not depend on the peers' stability
// (3.0.6's does), so that a starting 3.0.6 peer need not wait RQSTDELAY.
func (c *core) settled() bool {
	if c.status != StatusActive || !c.discovered || c.stopping || c.xchg != nil {
		return false
	}
	for _, g := range c.groups {
		if g.busy {
			return false
		}
	}
	return true
}

// legacyInFlux reports a live peer that speaks only 3.0.6 (or has only said
// "starting") and is not stable: it may be acquiring or releasing groups we
// cannot see, so we must not decide.
func (c *core) legacyInFlux() bool {
	for _, p := range c.peers {
		if c.alive(p) && (p.groups.legacy || p.groups.startingOnly) && p.groups.unstable {
			return true
		}
	}
	return false
}

// whichFor maps a 3.0.6 rsc_hold (relative to node) to the groups it names.
func (c *core) whichFor(hold, node string) []string {
	w, ok := ParseWhich(hold)
	if !ok {
		return nil
	}
	var out []string
	for _, g := range c.groups {
		if w.matches(g.Preferred, node) {
			out = append(out, g.Key)
		}
	}
	return out
}

func (c *core) sendAsk(now time.Time, hold, info string) {
	m := c.build(tAskResources, "")
	m.Add(fTakeWhich, hold)
	m.Add("info", info)
	c.send(now, m)
}

// startLegacyStandby asks the legacy peer p to take the groups selected by
// which (relative to us): the first phase of hb_standby.
func (c *core) startLegacyStandby(now time.Time, p *peer, which Which, reason string) error {
	if c.xchg != nil || !c.settled() || p.groups.unstable {
		return ErrBusy
	}
	c.xchg = &exchange{role: xMe, phase: xAsked, peer: p, hold: which.String(),
		groups: c.whichFor(which.String(), c.cfg.LocalNode), until: now.Add(standbyAnswerWait), reason: reason}
	c.emit(StandbyEvent{At: now, Peer: p.name, Role: "me", Phase: "asked", Which: which.String(), Reason: reason})
	c.sendAsk(now, which.String(), infoMe)
	return nil
}

// askResources handles a peer's ask_resources message.
func (c *core) askResources(now time.Time, p *peer, hold, info string) {
	if !p.groups.legacy || len(c.peers) != 1 || c.stopping {
		return
	}
	x := c.xchg
	switch {
	case x == nil && info == infoMe:
		// The peer wants to go standby: we take the groups it names.
		if !c.settled() || p.groups.unstable {
			c.emit(StandbyEvent{At: now, Peer: p.name, Role: "other", Phase: "ignored", Which: hold, Reason: "in flux"})
			return
		}
		if _, ok := ParseWhich(hold); !ok {
			return
		}
		c.xchg = &exchange{role: xOther, phase: xWaitDone, peer: p, hold: hold,
			groups: c.whichFor(hold, p.name), until: now.Add(standbyWorkWait), reason: p.name + " goes standby"}
		c.emit(StandbyEvent{At: now, Peer: p.name, Role: "other", Phase: "accepted", Which: hold})
		c.sendAsk(now, hold, infoOther)
	case x != nil && x.peer == p && x.role == xMe && x.phase == xAsked && info == infoOther:
		x.phase = xWork
		x.until = now.Add(standbyWorkWait)
		for _, k := range x.groups {
			if g := c.group(k); g != nil {
				g.giving = true
			}
		}
		// As 3.0.6 does: first say we are in flux and no longer hold them.
		c.sendReport(now, infoStandby)
		for _, k := range x.groups {
			if g := c.group(k); g != nil && g.held() && !g.busy {
				c.release(now, g, "standby: "+p.name+" takes it")
			}
		}
		c.xchgProgress(now)
	case x != nil && x.peer == p && x.role == xOther && x.phase == xWaitDone && info == infoDone:
		x.phase = xWork
		for _, k := range x.groups {
			if g := c.group(k); g != nil && !g.held() && !g.busy && !g.removed {
				g.failed = false
				c.acquire(now, g)
				g.failback = false
			}
		}
		c.xchgProgress(now)
	case x != nil && x.peer == p && x.role == xMe && x.phase == xDoneSent && info == infoDone:
		c.emit(StandbyEvent{At: now, Peer: p.name, Role: "me", Phase: "done", Which: x.hold})
		c.xchg = nil
		c.sendReport(now, "")
	}
}

// xchgProgress finishes the work phase once every group is released or
// acquired.
func (c *core) xchgProgress(now time.Time) {
	x := c.xchg
	if x == nil || x.phase != xWork {
		return
	}
	for _, k := range x.groups {
		g := c.group(k)
		if g == nil {
			continue
		}
		if g.busy {
			return
		}
	}
	switch x.role {
	case xMe:
		for _, k := range x.groups {
			if g := c.group(k); g != nil {
				g.giving = false
			}
		}
		x.phase = xDoneSent
		x.until = now.Add(standbyWorkWait)
		c.sendAsk(now, x.hold, infoDone)
	case xOther:
		c.emit(StandbyEvent{At: now, Peer: x.peer.name, Role: "other", Phase: "done", Which: x.hold})
		c.xchg = nil
		c.sendAsk(now, x.hold, infoDone)
		c.sendReport(now, "")
	}
}

// xchgTimers abandons an exchange the peer stopped answering, or whose
// peer died, as 3.0.6 does ("Cancelling pending standby operation").
func (c *core) xchgTimers(now time.Time) {
	x := c.xchg
	if x == nil {
		return
	}
	if !c.alive(x.peer) || !now.Before(x.until) {
		if x.phase == xWork {
			return // let our own operations finish first
		}
		for _, g := range c.groups {
			g.giving = false
		}
		c.emit(StandbyEvent{At: now, Peer: x.peer.name, Role: roleName(x.role), Phase: "abandoned", Which: x.hold})
		c.xchg = nil
		c.xRetryAt = now.Add(standbyRetry)
		c.reportDue = true
	}
}

func roleName(r xRole) string {
	if r == xMe {
		return "me"
	}
	return "other"
}

// legacyReport records a 3.0.6 resource report. full is rtype=full; a
// missing isstable (mach_down) leaves the stability as it was.
func (c *core) legacyReport(now time.Time, p *peer, hold, rtype, isstable string, hasStable bool) {
	pg := &p.groups
	wasUnstable := pg.unstable || !pg.reported
	pg.legacy = true
	pg.startingOnly = false
	l, f := holdBits(hold)
	held := c.whichForBits(l, f, p.name)
	if rtype == "full" {
		pg.held = held
		pg.bitL, pg.bitF = l, f
	} else if hold != "none" {
		for _, k := range held {
			if !slices.Contains(pg.held, k) {
				pg.held = append(pg.held, k)
			}
		}
		pg.bitL, pg.bitF = pg.bitL || l, pg.bitF || f
	} else if rtype != "full" {
		pg.held, pg.bitL, pg.bitF = nil, false, false
	}
	if hasStable {
		pg.unstable = isstable != "1"
		if wasUnstable && !pg.unstable && c.status == StatusActive {
			// "remote resource transition completed": 3.0.6 answers with
			// its own report, and so do we.
			c.reportDue = true
		}
	}
}

func holdBits(hold string) (local, foreign bool) {
	switch hold {
	case "all":
		return true, true
	case "local":
		return true, false
	case "foreign":
		return false, true
	}
	return false, false
}

func (c *core) whichForBits(local, foreign bool, node string) []string {
	var out []string
	for _, g := range c.groups {
		mine := g.Preferred == node
		if (mine && local) || (!mine && foreign) {
			out = append(out, g.Key)
		}
	}
	return out
}

// sendStonith tells the peers, as 3.0.6 does, that a dead node was not
// fenced: n_stnth when it may have held resources, unneeded when not.
func (c *core) sendStonith(now time.Time, p *peer, heldAny bool) {
	if len(c.groups) == 0 || c.stopping {
		return
	}
	m := c.build(tStonith, "")
	m.Add("node", p.name)
	if heldAny {
		m.Add("result", "n_stnth")
	} else {
		m.Add("result", "unneeded")
	}
	c.send(now, m)
}

// peerClaims reports whether a live peer claims the local or foreign
// category (relative to itself).
func (c *core) peerClaims(local bool) bool {
	for _, p := range c.peers {
		if !c.alive(p) || !p.groups.reported {
			continue
		}
		if (local && p.groups.bitL) || (!local && p.groups.bitF) {
			return true
		}
	}
	return false
}

// standbyWhich is the rsc_hold a peer's hb_takeover asks us to give up:
// its local groups are our foreign ones and the other way round.
func takeoverToStandby(hold string) (Which, bool) {
	switch strings.TrimSpace(hold) {
	case "all", "":
		return WhichAll, true
	case "local":
		return WhichForeign, true
	case "foreign", "failback":
		return WhichLocal, true
	}
	return 0, false
}
