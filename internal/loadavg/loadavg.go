// Package loadavg reads /proc/loadavg for the ld field of status messages,
// without waking the Go runtime's monitor thread.
package loadavg

import (
	"bytes"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Path is the file read.
const Path = "/proc/loadavg"

// File is /proc/loadavg, kept open and read again from offset 0 by Read.
// It is not safe for concurrent use.
//
// Why not os.ReadFile once a second: open, fstat, fcntl, read and close are
// ordinary system calls, and an ordinary system call wakes the runtime's
// monitor thread (sysmon) when the process is idle between heartbeats,
// after which it polls every 20 µs until the process is idle again: about
// 25 extra wake-ups a second measured with strace. A pread on a descriptor
// kept open is one raw system call (procfs regenerates the text on a read
// at offset 0; it never blocks), as the UDP media's datagram I/O is
// (internal/media/udp_raw.go).
type File struct {
	fd   int
	buf  [128]byte // the line is about 30 bytes
	last []byte
	s    string
}

// Open opens path (normally Path).
func Open(path string) (*File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &File{fd: fd}, nil
}

// Read returns the file's first line without its newline, or "" when it
// cannot be read. It allocates only when the text changed since the last
// call.
func (f *File) Read() string {
	n, _, errno := unix.RawSyscall6(unix.SYS_PREAD64, uintptr(f.fd),
		uintptr(unsafe.Pointer(&f.buf[0])), uintptr(len(f.buf)), 0, 0, 0)
	if errno != 0 || n == 0 {
		return ""
	}
	line := f.buf[:n]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if !bytes.Equal(line, f.last) || f.s == "" {
		f.last = append(f.last[:0], line...)
		f.s = string(line)
	}
	return f.s
}

// Close closes the file.
func (f *File) Close() error { return unix.Close(f.fd) }
