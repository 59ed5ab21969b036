package engine

import "time"

// Packet is one datagram received on a medium.
type Packet struct {
	Data []byte    // the datagram, owned by the receiver from now on
	From string    // sender address as text, for logs ("10.0.0.2:694", "/dev/ttyS0")
	At   time.Time // receive time (carries a monotonic reading)
}

// Medium is one heartbeat medium (a ucast/bcast/mcast line, or a serial port).
// Implementations start their receive goroutines on construction or in an
// Open step of their own; the engine only sends, receives and closes.
type Medium interface {
	// Name is the link name as Heartbeat shows it: the interface ("eth0") or
	// the serial device ("/dev/ttyS0").
	Name() string
	// Send transmits one datagram to every peer the medium reaches. It must
	// not block for long; an error marks the medium as failing. b is the
	// caller's until Send returns: a medium that queues it keeps a copy.
	Send(b []byte) error
	// Packets delivers received datagrams. It is closed when the medium is
	// closed.
	Packets() <-chan Packet
	// Close stops the medium and closes Packets.
	Close() error
}
