//go:build clustertest

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Client is a plain host on the first segment (10.77.<id>.200, eth0; eth1 on
// the second segment when there is one), the users of the cluster's VIPs.
type Client struct {
	lab *Lab
	// NS is the client's network namespace.
	NS string
	// Addr is the client's address on the first segment.
	Addr string
}

// Command builds ip netns exec NS ARGS, to run in the background (tcpdump).
func (c *Client) Command(ctx context.Context, args ...string) *exec.Cmd {
	return command(ctx, "ip", append([]string{"netns", "exec", c.NS}, args...)...)
}

// Run runs a command in the client namespace and returns its stdout.
func (c *Client) Run(ctx context.Context, args ...string) (string, error) {
	out, err := run(ctx, "ip", append([]string{"netns", "exec", c.NS}, args...)...)
	if err != nil {
		return out, fmt.Errorf("client: %w", err)
	}
	return out, nil
}

// Ping pings addr from the client until one answer comes (nil) or within
// has passed (an error); within is rounded up to whole seconds.
func (c *Client) Ping(ctx context.Context, addr string, within time.Duration) error {
	_, err := c.Run(ctx, pingArgs(addr, within)...)
	return err
}

// Dial opens a connection from the client namespace.
func (c *Client) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(netnsPath(c.NS), func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	return conn, nil
}

// HTTPClient is an http.Client whose connections start in the client
// namespace (no keep-alive: each request dials, as after a failover).
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:       c.Dial,
			DisableKeepAlives: true,
		},
	}
}

// Curl GETs url from the client and returns the body; a status other than
// 200 is an error.
func (c *Client) Curl(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return string(body), fmt.Errorf("client: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("client: GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// Neigh returns the client's neighbour table (ip neigh show).
func (c *Client) Neigh(ctx context.Context) (string, error) {
	out, err := run(ctx, "ip", "-n", c.NS, "neigh", "show")
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	return out, nil
}

// NeighMAC returns the MAC the client has for addr and the entry's state
// (REACHABLE, STALE, ...); "" when it has no entry.
func (c *Client) NeighMAC(ctx context.Context, addr string) (mac, state string, err error) {
	out, err := run(ctx, "ip", "-j", "-n", c.NS, "neigh", "show", "to", addr)
	if err != nil {
		return "", "", fmt.Errorf("client: %w", err)
	}
	var entries []struct {
		Dst    string   `json:"dst"`
		Lladdr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		return "", "", fmt.Errorf("client: ip -j neigh: %w", err)
	}
	for _, e := range entries {
		if e.Dst == addr {
			st := ""
			if len(e.State) > 0 {
				st = e.State[0]
			}
			return e.Lladdr, st, nil
		}
	}
	return "", "", nil
}

// inNetns runs fn on a thread switched into the network namespace at path.
// Sockets fn creates stay in that namespace. If the thread cannot switch
// back it stays locked and dies with its goroutine.
func inNetns(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("own netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: %w", err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
