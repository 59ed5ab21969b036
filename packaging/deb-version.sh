#!/bin/sh
# deb-version.sh VERSION COMMIT_EPOCH: print the Debian version of a build.
#
# VERSION is what the Makefile stamps into the binaries (git describe --tags
# --always --dirty, or an override). The epoch 1: makes every build sort
# above Debian's heartbeat 1:3.0.6-*, which this package upgrades in place.
#   v4.1.0                 -> 1:4.1.0-1
#   v4.1.0-3-gabc1234      -> 1:4.1.0+3+gabc1234-1
#   v4.1.0-dirty           -> 1:4.1.0+dirty-1
#   abc1234 (no tag)       -> 1:4.0~git20251125185700.abc1234-1
#   abc1234-dirty          -> 1:4.0~git20251125185700.abc1234+dirty-1
# Appending to VERSION (VERSION=$(git describe)-2) always yields a newer
# package. In the upstream part "-" becomes "+" and characters Debian does
# not allow are dropped; the Debian revision REVISION (default 1) follows:
# 1:4.1.0-1.
set -eu
v=${1:?usage: deb-version.sh VERSION [COMMIT_EPOCH [REVISION]]}
epoch=${2:-0}
rev=${3:-1}
v=${v#v}
case $v in
[0-9]*.[0-9]*) up=$v ;; # a release tag
*)
	stamp=$(date -u -d "@$epoch" +%Y%m%d%H%M%S)
	up="4.0~git$stamp.$v"
	;;
esac
up=$(printf '%s' "$up" | tr -- '-_' '++' | tr -cd 'A-Za-z0-9.+~')
case $up in
[0-9]*) ;;
*) echo "deb-version.sh: cannot make a Debian version of '$1'" >&2; exit 1 ;;
esac
printf '1:%s-%s\n' "$up" "$rev"
