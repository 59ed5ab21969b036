// Package memnet is an in-memory network segment for tests of the engine:
// every endpoint attached to a Network is one node's medium on one shared
// segment (a broadcast domain). Knobs model partitions, one-way cuts, seeded
// loss, delay, duplication and reordering. It is meant to be run under
// testing/synctest, where delays cost no real time.
//
// It is a test-only package: production code never imports it.
package memnet

import (
	"bytes"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/linuxha/heartbeat/internal/engine"
)

// Frame is one datagram seen on the segment (when recording).
type Frame struct {
	From, To string
	Data     []byte
}

// Network is one segment.
type Network struct {
	name string

	mu       sync.Mutex
	seed     uint64
	rngs     map[[2]string]*rand.Rand // per directed pair: from -> to
	eps      map[string]*Endpoint
	cut      map[[2]string]bool // from -> to blocked
	loss     float64
	dup      float64
	reorder  float64
	delay    time.Duration
	jitter   time.Duration
	record   bool
	frames   []Frame
	sent     int
	dropped  int
	injected int
}

// New returns a segment whose endpoints are named link (e.g. "eth0"); seed
// makes loss, jitter and reordering reproducible.
func New(link string, seed uint64) *Network {
	return &Network{
		name: link,
		seed: seed,
		rngs: make(map[[2]string]*rand.Rand),
		eps:  make(map[string]*Endpoint),
		cut:  make(map[[2]string]bool),
	}
}

// rng is the random source of the frames from one node to another. One per
// directed pair, so that each pair's losses depend only on the seed and on
// how many frames that pair carried, not on the order in which goroutines
// (and map iteration) happen to send: a seeded scenario is the same run
// every time. Called with n.mu held.
func (n *Network) rng(from, to string) *rand.Rand {
	k := [2]string{from, to}
	r := n.rngs[k]
	if r == nil {
		h := fnv.New64a()
		h.Write([]byte(from))
		h.Write([]byte{0})
		h.Write([]byte(to))
		r = rand.New(rand.NewPCG(n.seed, h.Sum64()))
		n.rngs[k] = r
	}
	return r
}

// Attach connects node to the segment and returns its medium.
func (n *Network) Attach(node string) *Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep := &Endpoint{net: n, node: node, ch: make(chan engine.Packet, 1024)}
	n.eps[node] = ep
	return ep
}

// Cut blocks traffic from one node to another (one way).
func (n *Network) Cut(from, to string) {
	n.mu.Lock()
	n.cut[[2]string{from, to}] = true
	n.mu.Unlock()
}

// Restore undoes Cut.
func (n *Network) Restore(from, to string) {
	n.mu.Lock()
	delete(n.cut, [2]string{from, to})
	n.mu.Unlock()
}

// Partition cuts every path between the two groups, both ways.
func (n *Network) Partition(a, b []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, x := range a {
		for _, y := range b {
			n.cut[[2]string{x, y}] = true
			n.cut[[2]string{y, x}] = true
		}
	}
}

// Isolate cuts node off from every other node, both ways (cable pulled).
func (n *Network) Isolate(node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for other := range n.eps {
		if other != node {
			n.cut[[2]string{node, other}] = true
			n.cut[[2]string{other, node}] = true
		}
	}
}

// Heal removes every cut.
func (n *Network) Heal() {
	n.mu.Lock()
	clear(n.cut)
	n.mu.Unlock()
}

// SetLoss drops each delivery with probability p.
func (n *Network) SetLoss(p float64) { n.mu.Lock(); n.loss = p; n.mu.Unlock() }

// SetDuplicate delivers a second copy with probability p.
func (n *Network) SetDuplicate(p float64) { n.mu.Lock(); n.dup = p; n.mu.Unlock() }

// SetReorder holds a delivery back by an extra random delay (up to 3x the
// base delay plus jitter, at least 1ms) with probability p.
func (n *Network) SetReorder(p float64) { n.mu.Lock(); n.reorder = p; n.mu.Unlock() }

// SetDelay delays every delivery by d plus a uniform random jitter.
func (n *Network) SetDelay(d, jitter time.Duration) {
	n.mu.Lock()
	n.delay, n.jitter = d, jitter
	n.mu.Unlock()
}

// Record starts or stops keeping every delivered frame.
func (n *Network) Record(on bool) { n.mu.Lock(); n.record = on; n.mu.Unlock() }

// Frames returns the recorded frames.
func (n *Network) Frames() []Frame {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Frame(nil), n.frames...)
}

// Counts returns the number of deliveries attempted and dropped.
func (n *Network) Counts() (sent, dropped int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent, n.dropped
}

// Inject delivers a datagram to node as if it came from outside (a forged or
// replayed packet). It ignores cuts and loss.
func (n *Network) Inject(to string, data []byte) {
	n.mu.Lock()
	ep := n.eps[to]
	n.injected++
	n.mu.Unlock()
	if ep != nil {
		ep.deliver(append([]byte(nil), data...), "injected")
	}
}

func (n *Network) send(from string, data []byte) {
	data = bytes.Clone(data) // delivered later, and the sender reuses its buffer
	n.mu.Lock()
	type job struct {
		ep    *Endpoint
		delay time.Duration
	}
	var jobs []job
	for name, ep := range n.eps {
		if name == from {
			continue
		}
		n.sent++
		rng := n.rng(from, name)
		if n.cut[[2]string{from, name}] || (n.loss > 0 && rng.Float64() < n.loss) {
			n.dropped++
			continue
		}
		copies := 1
		if n.dup > 0 && rng.Float64() < n.dup {
			copies = 2
		}
		for range copies {
			d := n.delay
			if n.jitter > 0 {
				d += time.Duration(rng.Int64N(int64(n.jitter)))
			}
			if n.reorder > 0 && rng.Float64() < n.reorder {
				d += time.Millisecond + time.Duration(rng.Int64N(int64(3*(n.delay+n.jitter)+time.Millisecond)))
			}
			jobs = append(jobs, job{ep, d})
		}
		if n.record {
			n.frames = append(n.frames, Frame{From: from, To: name, Data: append([]byte(nil), data...)})
		}
	}
	n.mu.Unlock()
	for _, j := range jobs {
		b := append([]byte(nil), data...)
		if j.delay <= 0 {
			j.ep.deliver(b, from)
			continue
		}
		ep := j.ep
		time.AfterFunc(j.delay, func() { ep.deliver(b, from) })
	}
}

// Endpoint is one node's medium on a Network; it implements engine.Medium.
type Endpoint struct {
	net    *Network
	node   string
	mu     sync.Mutex
	ch     chan engine.Packet
	closed bool
}

// Name is the segment's link name.
func (e *Endpoint) Name() string { return e.net.name }

// Send transmits to every other endpoint on the segment.
func (e *Endpoint) Send(b []byte) error {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return errClosed
	}
	e.net.send(e.node, b)
	return nil
}

// Packets delivers received datagrams.
func (e *Endpoint) Packets() <-chan engine.Packet { return e.ch }

// Close detaches the endpoint (a powered-off node) and closes Packets.
func (e *Endpoint) Close() error {
	e.net.mu.Lock()
	if e.net.eps[e.node] == e {
		delete(e.net.eps, e.node)
	}
	e.net.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		close(e.ch)
	}
	return nil
}

func (e *Endpoint) deliver(b []byte, from string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	select {
	case e.ch <- engine.Packet{Data: b, From: from, At: time.Now()}:
	default: // receive buffer full: dropped, like a socket
	}
}

type closedError struct{}

func (closedError) Error() string { return "memnet: endpoint closed" }

var errClosed error = closedError{}
