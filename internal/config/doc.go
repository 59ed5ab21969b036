// Package config reads the three Heartbeat 3.0.6 configuration files of
// v1 (haresources) mode: ha.cf, haresources and authkeys, usually found in
// /etc/ha.d.
//
// Parsing follows heartbeat/config.c and heartbeat/auth.c of 3.0.6: the same
// directive names, value syntax (times such as "2", "1.5" or "500ms",
// booleans such as "on" or "no"), defaults and derived values (warntime,
// initdead, deadping), and the same start-up checks, made stricter where 3.0.6
// silently ignored a mistake. Values are parsed once into typed fields
// (time.Duration, netip.Addr, enums). Every problem is reported at once as a
// positioned *Error ("path:line: message") joined with errors.Join; warnings
// are returned separately. Directives that turn on Pacemaker are rejected,
// because this implementation only runs haresources mode.
//
// Load reads a directory, CheckConfig prints a verdict for --check-config,
// and Config.Parameter renders a value the way "cl_status hbparameter" does.
package config
