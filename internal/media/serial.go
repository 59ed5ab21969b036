package media

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/linuxha/heartbeat/internal/engine"
)

// serialQueue is how many messages Send may queue ahead of the line.
const serialQueue = 4

// serialMedium is a serial port. A reader goroutine owns the port's life
// (reads, detects hangup, reopens); a writer goroutine writes queued
// messages so that Send never blocks on a full tty buffer.
//
// Modem control lines (DTR/RTS) are left alone: setting them fails with
// ENOTTY on a pty, and 3.0.6 only asked for CLOCAL anyway. Unlike 3.0.6 the
// port runs without RTS/CTS flow control (go.bug.st/serial clears CRTSCTS),
// so a write never waits for a peer that is not there.
type serialMedium struct {
	path  string
	baud  int
	idle  time.Duration // a partial frame older than this is dropped
	retry time.Duration
	log   *slog.Logger

	packets chan engine.Packet
	queue   chan []byte
	free    chan []byte
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	mu   sync.Mutex
	port serial.Port // nil while down
	down error       // why, while down
}

func openSerial(s Spec, opts Options) (*serialMedium, error) {
	if !strings.HasPrefix(s.Path, "/") {
		return nil, fmt.Errorf("serial port %q is not a full path name", s.Path)
	}
	fi, err := os.Stat(s.Path)
	if err != nil {
		return nil, fmt.Errorf("serial port: %w", err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		return nil, fmt.Errorf("serial port %s is not a character device", s.Path)
	}
	baud := s.Baud
	if baud <= 0 {
		baud = DefaultBaud
	}
	// A 3.0.6 writer pauses one 512-byte fragment time between fragments;
	// allow twice that (10 bits a byte) and at least a second.
	idle := max(time.Second, 2*time.Duration(512*10)*time.Second/time.Duration(baud))
	m := &serialMedium{
		path:    s.Path,
		baud:    baud,
		idle:    idle,
		retry:   opts.retry(),
		log:     opts.logger().With("medium", s.Path),
		packets: make(chan engine.Packet, 64),
		queue:   make(chan []byte, serialQueue),
		free:    make(chan []byte, serialQueue),
		done:    make(chan struct{}),
	}
	p, err := m.openPort()
	if err != nil {
		return nil, err
	}
	m.port = p
	for range serialQueue {
		m.free <- make([]byte, 0, 1024)
	}
	m.wg.Add(1)
	go m.reader()
	go m.writer()
	m.log.Info("serial medium open", "baud", baud)
	return m, nil
}

func (m *serialMedium) openPort() (serial.Port, error) {
	p, err := serial.Open(m.path, &serial.Mode{
		BaudRate: m.baud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.OneStopBit,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", m.path, err)
	}
	if err := p.SetReadTimeout(m.idle); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("set read timeout on %s: %w", m.path, err)
	}
	// Drop what piled up while nobody read, like 3.0.6's FLUSH at setup.
	_ = p.ResetInputBuffer()
	return p, nil
}

// Name returns the device path.
func (m *serialMedium) Name() string { return m.path }

// Packets delivers received frames; Data is the whole frame, ">>>\n...<<<\n"
// (classic, as 3.0.6 sends) or "###\n...," (netstring), freshly allocated.
func (m *serialMedium) Packets() <-chan engine.Packet { return m.packets }

// Send queues b for the line. A netstring message is written in the classic
// form 3.0.6's serial_read understands (see appendClassic); one that cannot
// be is written as is. A classic message is written as is.
func (m *serialMedium) Send(b []byte) error {
	if len(b) > MaxDatagram {
		return fmt.Errorf("%s: message of %d bytes exceeds %d", m.path, len(b), MaxDatagram)
	}
	m.mu.Lock()
	down := m.down
	m.mu.Unlock()
	if down != nil {
		return fmt.Errorf("%s: %w: %w", m.path, ErrDown, down)
	}
	var buf []byte
	select {
	case buf = <-m.free:
	default:
		return fmt.Errorf("%s: send queue full", m.path)
	}
	out, err := appendClassic(buf[:0], b)
	if err != nil {
		if !bytes.HasPrefix(b, startNetstring) && !bytes.HasPrefix(b, startClassic) {
			m.free <- buf
			return fmt.Errorf("%s: message has no start marker", m.path)
		}
		out = append(buf[:0], b...)
	}
	m.queue <- out
	return nil
}

// Close stops the medium and closes Packets. A write blocked on the device
// is not waited for.
func (m *serialMedium) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		m.mu.Lock()
		p := m.port
		m.port = nil
		m.down = net.ErrClosed
		m.mu.Unlock()
		if p != nil {
			err = p.Close()
		}
		m.wg.Wait()
		close(m.packets)
	})
	return err
}

func (m *serialMedium) current() serial.Port {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.port
}

func (m *serialMedium) closed() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

func (m *serialMedium) reader() {
	defer m.wg.Done()
	buf := make([]byte, 4096)
	d := newDeframer(MaxDatagram)
	var at time.Time
	emit := func(f []byte) {
		select {
		case m.packets <- engine.Packet{Data: f, From: m.path, At: at}:
		case <-m.done:
		}
	}
	for {
		port := m.current()
		if port == nil {
			if !m.reopen() {
				return
			}
			d.reset()
			continue
		}
		n, err := port.Read(buf)
		if n > 0 {
			at = time.Now()
			d.feed(buf[:n], emit)
		}
		switch {
		case err != nil:
			if m.closed() {
				return
			}
			m.fail(port, err)
		case n == 0 && d.pending():
			d.reset() // idle mid-frame: the rest is not coming
		}
	}
}

// fail marks the medium down after a read error on port.
func (m *serialMedium) fail(port serial.Port, err error) {
	m.mu.Lock()
	if m.port == port {
		m.port = nil
		m.down = err
	}
	m.mu.Unlock()
	_ = port.Close()
	m.log.Warn("serial medium down, reopening", "err", err)
}

// reopen retries opening the port every m.retry; false once closed.
func (m *serialMedium) reopen() bool {
	t := time.NewTimer(m.retry)
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return false
		case <-t.C:
		}
		p, err := m.openPort()
		if err != nil {
			m.log.Debug("serial reopen failed", "err", err)
			t.Reset(m.retry)
			continue
		}
		m.mu.Lock()
		if m.closed() {
			m.mu.Unlock()
			_ = p.Close()
			return false
		}
		m.port = p
		m.down = nil
		m.mu.Unlock()
		m.log.Info("serial medium up")
		return true
	}
}

func (m *serialMedium) writer() {
	for {
		select {
		case <-m.done:
			return
		case b := <-m.queue:
			if p := m.current(); p != nil {
				if _, err := p.Write(b); err != nil && !errors.Is(err, net.ErrClosed) {
					m.log.Debug("serial write failed", "err", err)
				}
			}
			m.free <- b[:0]
		}
	}
}
