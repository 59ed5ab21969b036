#!/bin/bash
# build-deb.sh: stage the heartbeat package tree and build it with dpkg-deb.
# Run by "make deb" (packaging/deb.mk), which builds the binaries first and
# passes everything in the environment:
#   VERSION      version stamped in the binaries (git describe ...)
#   DEB_VERSION  Debian version (default: packaging/deb-version.sh VERSION)
#   BIN          directory holding heartbeat and hbctl (static, make build)
#   DIST         output directory
#   DEB_ARCH     Debian architecture (amd64)
#   MD2MAN       command converting markdown to roff (reads -in, writes -out)
#   DEB_MAINTAINER, SOURCE_DATE_EPOCH
# It prints the path of the .deb on its last line.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

: "${VERSION:?VERSION not set}"
: "${BIN:=bin}"
: "${DIST:=dist}"
: "${DEB_ARCH:=amd64}"
: "${MD2MAN:?MD2MAN not set}"
: "${DEB_MAINTAINER:=Heartbeat Go maintainers <heartbeat@linuxha.invalid>}"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
: "${DEB_VERSION:=$("$here/deb-version.sh" "$VERSION" "$SOURCE_DATE_EPOCH")}"
case $DEB_VERSION in *-*) ;; *) echo "build-deb.sh: $DEB_VERSION: want a Debian revision (-1)" >&2; exit 1 ;; esac

for b in heartbeat hbctl; do
	[ -x "$BIN/$b" ] || { echo "build-deb.sh: $BIN/$b missing (make build)" >&2; exit 1; }
done
if file "$BIN/heartbeat" "$BIN/hbctl" | grep -q 'dynamically linked'; then
	echo "build-deb.sh: the binaries must be static (CGO_ENABLED=0)" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hb-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
umask 022

inst() { # inst MODE SRC DST
	install -D -m "$1" "$2" "$root$3"
}
gz() { # gz SRC DST: gzip -9n, no name and no time stamp
	mkdir -p "$(dirname "$root$2")"
	gzip -9nc "$1" >"$root$2"
	chmod 644 "$root$2"
}

# Programs; the classic tool names are hbctl under other names.
inst 755 "$BIN/heartbeat" /usr/sbin/heartbeat
inst 755 "$BIN/hbctl" /usr/bin/hbctl
ln -s hbctl "$root/usr/bin/cl_status"
mkdir -p "$root/usr/share/heartbeat"
ln -s ../../bin/hbctl "$root/usr/share/heartbeat/hb_standby"
ln -s ../../bin/hbctl "$root/usr/share/heartbeat/hb_takeover"

# systemd (Debian 12 keeps units in /lib/systemd/system; it is also where
# heartbeat 3.0.6 put heartbeat.service, so the upgrade takes the file over).
for u in heartbeat.service heartbeat-udp.socket heartbeat-control.socket; do
	inst 644 "systemd/$u" "/lib/systemd/system/$u"
done
inst 644 systemd/heartbeat-watchdog.conf /usr/share/heartbeat/heartbeat-watchdog.conf
inst 644 packaging/debian/sysusers.conf /usr/lib/sysusers.d/heartbeat.conf
inst 644 packaging/debian/tmpfiles.conf /usr/lib/tmpfiles.d/heartbeat.conf

# D-Bus
inst 644 dbus/org.linuxha.Heartbeat1.conf /usr/share/dbus-1/system.d/org.linuxha.Heartbeat1.conf
inst 644 dbus/org.linuxha.Heartbeat1.xml /usr/share/dbus-1/interfaces/org.linuxha.Heartbeat1.xml

# Manual pages: docs/man/NAME.SECTION.md
found=0
for md in docs/man/*.md; do
	[ -e "$md" ] || continue
	base=$(basename "$md" .md)
	sec=${base##*.}
	case $sec in [1-9]) ;; *) echo "build-deb.sh: $md: want NAME.SECTION.md" >&2; exit 1 ;; esac
	$MD2MAN -in "$md" -out "$work/$base"
	gz "$work/$base" "/usr/share/man/man$sec/$base.gz"
	found=$((found + 1))
done
[ "$found" -gt 0 ] || { echo "build-deb.sh: no manual pages in docs/man" >&2; exit 1; }
for n in cl_status hb_standby hb_takeover; do
	printf '.so man8/hbctl.8\n' >"$work/$n.1"
	gz "$work/$n.1" "/usr/share/man/man1/$n.1.gz"
done

# Shell completion, from the binary itself.
mkdir -p "$root/usr/share/bash-completion/completions"
"$BIN/hbctl" completion bash >"$root/usr/share/bash-completion/completions/hbctl"
chmod 644 "$root/usr/share/bash-completion/completions/hbctl"
[ -s "$root/usr/share/bash-completion/completions/hbctl" ] || { echo "build-deb.sh: empty bash completion" >&2; exit 1; }
# zsh completion (Debian's zsh reads vendor-completions).
mkdir -p "$root/usr/share/zsh/vendor-completions"
"$BIN/hbctl" completion zsh >"$root/usr/share/zsh/vendor-completions/_hbctl"
chmod 644 "$root/usr/share/zsh/vendor-completions/_hbctl"
[ -s "$root/usr/share/zsh/vendor-completions/_hbctl" ] || { echo "build-deb.sh: empty zsh completion" >&2; exit 1; }

# Documentation
doc=/usr/share/doc/heartbeat
inst 644 packaging/debian/copyright "$doc/copyright"
inst 644 packaging/debian/README.Debian "$doc/README.Debian"
for f in ha.cf haresources authkeys; do
	inst 644 "packaging/examples/$f" "$doc/examples/$f"
done
date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
cat >"$work/changelog" <<CHANGELOG
heartbeat ($DEB_VERSION) unstable; urgency=medium

  * Build of $VERSION: a Go reimplementation of Heartbeat 3.0.6
    (haresources mode), replacing Debian's heartbeat 1:3.0.6.

 -- $DEB_MAINTAINER  $date
CHANGELOG
gz "$work/changelog" "$doc/changelog.Debian.gz"
inst 644 packaging/lintian-overrides /usr/share/lintian/overrides/heartbeat

# Control area
mkdir -p "$root/DEBIAN"
for s in preinst postinst prerm postrm; do
	install -m 755 "packaging/debian/$s" "$root/DEBIAN/$s"
done
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$DEB_VERSION|" -e "s|@ARCH@|$DEB_ARCH|" \
	-e "s|@MAINTAINER@|$DEB_MAINTAINER|" -e "s|@INSTALLED_SIZE@|$size|" \
	packaging/debian/control.in >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

mkdir -p "$DIST"
out="$DIST/heartbeat_${DEB_VERSION#*:}_${DEB_ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >&2
echo "$out"
