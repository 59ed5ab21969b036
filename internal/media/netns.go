package media

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// nsRunner runs socket creation in the network namespace Open was called
// in. Go may run a later reopen on any OS thread, and threads created after
// a thread switched namespaces start in the process's original one, so each
// socket is made on a locked thread that is switched to the namespace.
type nsRunner struct {
	ns netns.NsHandle
}

// currentNS returns the namespace of the calling thread.
func currentNS() (nsRunner, error) {
	ns, err := netns.Get()
	if err != nil {
		return nsRunner{}, fmt.Errorf("get network namespace: %w", err)
	}
	return nsRunner{ns: ns}, nil
}

func (r nsRunner) close() { _ = r.ns.Close() }

// do runs fn on a thread in r's namespace.
func (r nsRunner) do(fn func() error) error {
	res := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		cur, err := netns.Get()
		if err != nil {
			res <- fmt.Errorf("get network namespace: %w", err)
			return // the locked thread is discarded
		}
		defer cur.Close()
		if cur.Equal(r.ns) {
			runtime.UnlockOSThread()
			res <- fn()
			return
		}
		if err := netns.Set(r.ns); err != nil {
			res <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		err = fn()
		if netns.Set(cur) == nil {
			runtime.UnlockOSThread()
		}
		// Otherwise the goroutine exits locked and the thread is destroyed.
		res <- err
	}()
	return <-res
}
