//go:build clustertest

package cluster

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		if err := CleanStale(func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(m.Run())
}
