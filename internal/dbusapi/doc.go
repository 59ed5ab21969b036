// Package dbusapi exports the heartbeat daemon on the system bus as
// org.linuxha.Heartbeat1: a Manager object with the local node's state and
// the actions of hb_standby/hb_takeover, one object per cluster node and one
// per resource group, with PropertiesChanged and ObjectManager signals.
//
// The API is documented in org.linuxha.Heartbeat1.xml (embedded here, and
// copied to dbus/ at the top of the repository); a test checks that what is
// exported is what the XML promises. The package never touches engine state:
// it reads snapshots through a Backend and is told by the daemon when one is
// worth taking.
package dbusapi
