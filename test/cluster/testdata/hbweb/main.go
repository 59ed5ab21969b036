// Command hbweb is the cluster tests' HTTP service: it answers every GET with
// the node's host name, so a client can tell which node served it. It runs as
// the Type=notify unit hbweb.service and says READY=1 once it listens, so
// the unit is started only when it can answer.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/coreos/go-systemd/v22/daemon"
)

func main() {
	addr := flag.String("listen", ":80", "address to listen on")
	flag.Parse()
	host, err := os.Hostname()
	if err != nil {
		log.Fatalf("hbweb: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("hbweb: %v", err)
	}
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Printf("hbweb: notify: %v", err)
	}
	log.Printf("hbweb: serving %s on %s", host, ln.Addr())
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, host)
	}))
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("hbweb: %v", err)
	}
}
