package control

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
)

type fakeEngine struct {
	st  Status
	err error
}

func (f fakeEngine) Status(context.Context) (Status, error) { return f.st, f.err }
func (f fakeEngine) Standby(_ context.Context, which string) error {
	if which == "bogus" {
		return errors.New("bad selection")
	}
	return f.err
}
func (f fakeEngine) Takeover(context.Context, string) error { return f.err }

func serve(t *testing.T, h Handler) string {
	return serveAuth(t, h, func(uint32, uint32) bool { return true })
}

func serveAuth(t *testing.T, h Handler, auth Authorizer) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, auth, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return path
}

func TestQueryStatus(t *testing.T) {
	want := Status{Node: "hba", State: "active", Nodes: []Node{{Name: "hbb", Status: "dead", Links: []Link{{Name: "eth0", Status: "dead"}}}}, Counters: map[string]uint64{"bad_auth": 3}}
	path := serve(t, fakeEngine{st: want})
	resp, err := Query(context.Background(), path, Request{Op: "status"})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Status
	if got == nil || got.Node != "hba" || len(got.Nodes) != 1 || got.Nodes[0].Links[0].Status != "dead" || got.Counters["bad_auth"] != 3 {
		t.Fatalf("status = %+v, want %+v", got, want)
	}
}

func TestQueryErrors(t *testing.T) {
	path := serve(t, fakeEngine{err: errors.New("engine stopped")})
	if _, err := Query(context.Background(), path, Request{Op: "status"}); err == nil || err.Error() != "engine stopped" {
		t.Errorf("status error = %v", err)
	}
	if _, err := Query(context.Background(), path, Request{Op: "explode"}); err == nil {
		t.Errorf("unknown op accepted")
	}
	if _, err := Query(context.Background(), filepath.Join(t.TempDir(), "none"), Request{Op: "status"}); err == nil {
		t.Errorf("query without a daemon succeeded")
	}
}

func TestActionsNeedAuthorization(t *testing.T) {
	var sawUID uint32 = 12345
	path := serveAuth(t, fakeEngine{}, func(uid, gid uint32) bool { sawUID = uid; return false })
	_, err := Query(context.Background(), path, Request{Op: "standby", Arg: "all"})
	if err == nil || err.Error() != ErrAccessDenied.Error() {
		t.Fatalf("standby by an unauthorized peer: %v", err)
	}
	if sawUID != uint32(os.Getuid()) {
		t.Errorf("authorizer saw uid %d, want ours %d", sawUID, os.Getuid())
	}
	if _, err := Query(context.Background(), path, Request{Op: "status"}); err != nil {
		t.Errorf("status must stay readable: %v", err)
	}
	ok := serve(t, fakeEngine{})
	if _, err := Query(context.Background(), ok, Request{Op: "takeover", Arg: "all"}); err != nil {
		t.Errorf("authorized takeover: %v", err)
	}
	if _, err := Query(context.Background(), ok, Request{Op: "standby", Arg: "bogus"}); err == nil {
		t.Errorf("engine error not passed back")
	}
}
