package engine

import "time"

// fPingCount is our status-message field telling how many ping nodes the
// sender reaches (3.0.6 ignores unknown fields). It replaces the messages
// of 3.0.6's separate ipfail client.
const fPingCount = "pingcount"

// pingReply records an echo reply from a ping node.
func (c *core) pingReply(now time.Time, pr pingReply) []action {
	c.out = c.out[:0]
	for _, pn := range c.pingNodes {
		if pn.name != pr.node {
			continue
		}
		if pr.at.After(pn.last) {
			pn.last = pr.at
		}
		if pn.status != StatusPing {
			old := pn.status
			pn.status = StatusPing
			c.emit(NodeEvent{At: now, Node: pn.name, Old: old, New: StatusPing, Reason: "echo reply", LastHeard: pn.last})
			c.sendStatus(now) // tell the peers our new count at once
			c.afterGroupChange(now)
		}
	}
	return c.out
}

func (c *core) checkPingNodes(now time.Time) {
	changed := false
	for _, pn := range c.pingNodes {
		if pn.status == StatusDead {
			continue
		}
		ref := pn.last
		if ref.IsZero() {
			ref = c.started
		}
		if now.Sub(ref) >= c.cfg.Deadping {
			old := pn.status
			pn.status = StatusDead
			c.emit(NodeEvent{At: now, Node: pn.name, Old: old, New: StatusDead, Reason: "deadping", LastHeard: pn.last})
			changed = true
		}
	}
	if changed {
		c.sendStatus(now)
	}
}

func (c *core) pingCount() int {
	n := 0
	for _, pn := range c.pingNodes {
		if pn.status == StatusPing {
			n++
		}
	}
	return n
}

// ipfailHold is how long a peer must reach more ping nodes than we do before
// we give our groups away (3.0.6's ipfail waits two keepalives).
func (c *core) ipfailHold() time.Duration { return 2 * c.cfg.Keepalive }

// pingWeak reports whether a live peer reaches more ping nodes than we do,
// for long enough to act on it: then our groups belong over there.
func (c *core) pingWeak(now time.Time) bool {
	if len(c.pingNodes) == 0 {
		return false
	}
	mine := c.pingCount()
	weak := false
	for _, p := range c.peers {
		if c.alive(p) && p.pingCount > mine {
			weak = true
		}
	}
	if !weak {
		c.weakSince, c.weakActed = time.Time{}, false
		return false
	}
	if c.weakSince.IsZero() {
		c.weakSince = now
	}
	if now.Sub(c.weakSince) < c.ipfailHold() {
		return false
	}
	c.weakActed = true
	return true
}

// pingWeaker reports whether peer p reaches fewer ping nodes than we do.
func (c *core) pingWeaker(p *peer) bool {
	return len(c.pingNodes) > 0 && p.pingCount >= 0 && p.pingCount < c.pingCount()
}
