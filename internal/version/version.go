// Package version reports the build's version, stamped by the Makefile with
// -ldflags or read from the Go build info.
package version

import "runtime/debug"

// Version is set with -ldflags "-X .../internal/version.Version=v1.2.3".
var Version = ""

// String returns the version of this build.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
