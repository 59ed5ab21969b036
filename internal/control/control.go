// Package control is the daemon's local control socket: a unix stream socket
// (by default /run/heartbeat/control) speaking one JSON request and one JSON
// response per line. hbctl and the cluster tests read the state through it;
// requests become calls to the engine loop, so a slow client never delays a
// heartbeat.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultPath is where the daemon listens unless told otherwise.
const DefaultPath = "/run/heartbeat/control"

// Request is one line a client sends.
type Request struct {
	Op  string `json:"op"` // "status", "standby", "takeover"
	Arg string `json:"arg,omitempty"`
}

// Response is the one line the daemon answers.
type Response struct {
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// Status is the cluster as the local daemon sees it.
type Status struct {
	Node       string            `json:"node"`
	State      string            `json:"state"`
	Generation uint64            `json:"generation"`
	Version    string            `json:"version"`
	Keepalive  string            `json:"keepalive"`
	Deadtime   string            `json:"deadtime"`
	Nodes      []Node            `json:"nodes"`
	Groups     []Group           `json:"groups"`
	Counters   map[string]uint64 `json:"counters"`
}

// Group is one resource group (a haresources line).
type Group struct {
	Key       string `json:"key"`
	Preferred string `json:"preferred"`
	Owner     string `json:"owner"` // "" when nobody holds it
	State     string `json:"state"` // our own state of it
	Standby   bool   `json:"standby,omitempty"`
	Failed    bool   `json:"failed,omitempty"`
}

// Node is one cluster node.
type Node struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"` // "normal" or "ping"
	Status     string    `json:"status"`
	Local      bool      `json:"local,omitempty"`
	Generation uint64    `json:"generation,omitempty"`
	LastHeard  time.Time `json:"last_heard,omitzero"`
	Links      []Link    `json:"links,omitempty"`
}

// Link is one medium towards a node.
type Link struct {
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	LastHeard time.Time `json:"last_heard,omitzero"`
}

// Handler answers requests; the daemon implements it over the engine.
type Handler interface {
	Status(ctx context.Context) (Status, error)
	Standby(ctx context.Context, which string) error
	Takeover(ctx context.Context, which string) error
}

// Authorizer decides whether a peer (by its credentials) may act.
type Authorizer func(uid, gid uint32) bool

// Serve answers clients on ln until ctx is done.
// Actions (standby, takeover) are allowed when auth says so; reading the
// state is open to everyone.
func Serve(ctx context.Context, ln net.Listener, h Handler, auth Authorizer, log *slog.Logger) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("control socket: %w", err)
		}
		go serveConn(ctx, conn, h, auth, log)
	}
}

func serveConn(ctx context.Context, conn net.Conn, h Handler, auth Authorizer, log *slog.Logger) {
	defer conn.Close()
	allowed := false
	if uc, ok := conn.(*net.UnixConn); ok && auth != nil {
		if cred, err := peerCred(uc); err == nil {
			allowed = auth(cred.Uid, cred.Gid)
		}
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 4096), 64*1024)
	enc := json.NewEncoder(conn)
	for sc.Scan() {
		var req Request
		var resp Response
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Error = "bad request: " + err.Error()
		} else {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			switch req.Op {
			case "status":
				st, err := h.Status(rctx)
				if err != nil {
					resp.Error = err.Error()
				} else {
					resp.Status = &st
				}
			case "standby", "takeover":
				if !allowed {
					resp.Error = ErrAccessDenied.Error()
					break
				}
				f := h.Standby
				if req.Op == "takeover" {
					f = h.Takeover
				}
				if err := f(rctx, req.Arg); err != nil {
					resp.Error = err.Error()
				}
			default:
				resp.Error = fmt.Sprintf("unknown request %q", req.Op)
			}
			cancel()
		}
		if err := enc.Encode(resp); err != nil {
			log.Debug("control client gone", "err", err)
			return
		}
	}
}

// ErrAccessDenied answers an action from a client that is neither root nor
// in group haclient.
var ErrAccessDenied = errors.New("access denied: only root and group haclient may act")

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	err = rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil {
		return nil, err
	}
	return cred, cerr
}

// Query sends one request to the daemon listening at path.
func Query(ctx context.Context, path string, req Request) (Response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return Response{}, fmt.Errorf("connect to heartbeat: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return Response{}, fmt.Errorf("send request: %w", err)
	}
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		return Response{}, fmt.Errorf("read response: %w", err)
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}
