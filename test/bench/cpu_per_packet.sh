#!/bin/bash
# cpu_per_packet.sh: CPU per heartbeat packet of bin/heartbeat, two nodes,
# ucast over a veth pair between two throwaway network namespaces (root).
# No systemd, no D-Bus, no cluster harness: the daemon's own cost only.
#
#   test/bench/cpu_per_packet.sh [runs]            (default 3 runs)
#   SYSTEM=keepalived test/bench/cpu_per_packet.sh  (the reference: keepalived
#                        --vrrp, VRRPv3 multicast, advert_int ADVERT, 0.01 s)
#   SYSTEM=floor test/bench/cpu_per_packet.sh  (the yardstick: test/bench/floor/floor.c,
#                        built with cc, sends SIZE bytes (default 312, our
#                        status message) every KEEPALIVE and reads the peer's:
#                        Heartbeat's traffic pattern with no work at all)
#   SYSTEM=gofloor test/bench/cpu_per_packet.sh  (the same in Go, test/bench/gofloor,
#                        on one P; GOFLOOR_MODE=chan (default: a goroutine per
#                        descriptor and channels, the daemon's shape), epoll
#                        (one goroutine on one epoll) or batch (woken by the
#                        timer only; reads what came at each keepalive))
#
# Environment: HB_BIN (default bin/heartbeat), WINDOW seconds (default 30)
# after WARMUP seconds (default 5),
# KEEPALIVE / DEADTIME / WARNTIME (default 20ms / 80ms / 60ms), STRACE=1 to
# also count syscalls of node a for 10 s after the window, PERF=1 to record
# `perf record -g` of node a over the window (perf.data under $OUT),
# HB_ENV="VAR=value ..." extra environment for both daemons (e.g.
# GOMAXPROCS=2), PIN=1 to pin node a to CPU 0 and node b to CPU 1 (taskset;
# steadier figures from run to run), SPIN=1 to keep both CPUs from going idle
# with a busy loop at SCHED_IDLE (it yields to any other task at once; on an
# otherwise idle VM the wake-up of a halted vCPU costs several times the
# daemon's own work and varies 10x between runs, see docs/benchmarks.md),
# NOTIFY=1 to run them as systemd would with WatchdogSec=
# (NOTIFY_SOCKET on a socat sink, WATCHDOG_USEC=1s: the daemon pets every
# max(deadtime/2, 50ms)/2, as in the cluster bench), OUT a directory to keep
# logs in (default: a temp dir, removed).
#
# Per node and run it prints: CPU µs per packet = Δ(run time) of the daemon
# (/proc/PID/task/*/schedstat, all threads) / Δ(rx+tx packets) of its veth, and
# wake-ups per packet = Δ(voluntary+nonvoluntary context switches, summed
# over the daemon's threads) / the same packets, and minor page faults per
# packet (/proc/PID/stat; a young Go heap faults its pages in until its
# first collections, hence WARMUP). Last line: the medians.
set -euo pipefail

runs=${1:-3}
bin=${HB_BIN:-bin/heartbeat}
window=${WINDOW:-30}
keepalive=${KEEPALIVE:-20ms}
deadtime=${DEADTIME:-80ms}
warntime=${WARNTIME:-60ms}
[[ $(id -u) == 0 ]] || { echo "cpu_per_packet: needs root" >&2; exit 1; }
case ${SYSTEM:-ours} in
ours)
	[[ -x $bin ]] || { echo "cpu_per_packet: $bin missing (make build)" >&2; exit 1; }
	bin=$(realpath "$bin")
	;;
keepalived) command -v keepalived >/dev/null || { echo "cpu_per_packet: keepalived missing (apt-get install keepalived)" >&2; exit 1; } ;;
floor) command -v cc >/dev/null || { echo "cpu_per_packet: cc missing (apt-get install gcc)" >&2; exit 1; } ;;
gofloor) command -v go >/dev/null || { echo "cpu_per_packet: go missing (scripts/deps)" >&2; exit 1; } ;;
*) echo "cpu_per_packet: SYSTEM is ours, keepalived, floor or gofloor" >&2; exit 1 ;;
esac

exec 9>/run/hbprof.lock
flock -n 9 || { echo "cpu_per_packet: another run holds /run/hbprof.lock" >&2; exit 1; }

keep=${OUT:-}
out=${OUT:-$(mktemp -d /tmp/hbprof.XXXXXX)}
mkdir -p "$out"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
	ip netns del hbprof-a 2>/dev/null || true
	ip netns del hbprof-b 2>/dev/null || true
}
trap 'cleanup; [[ -n $keep ]] || rm -rf "$out"' EXIT

# The daemon and its children (keepalived's VRRP process).
procs() { echo "$1" $(pgrep -P "$1" || true); }
# CPU time in ns: the scheduler's exact run time of every thread
# (/proc/PID/task/TID/schedstat, first field). utime+stime in /proc/PID/stat
# is sampled at the 100 Hz tick and, for a process that runs a few µs at a
# time, off by far more than the differences we look for.
cpuns() { local p; for p in $(procs "$1"); do cat /proc/"$p"/task/*/schedstat; done 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'; }
minflt() { local p; for p in $(procs "$1"); do cat "/proc/$p/stat"; done | awk '{s += $10} END {print s}'; }
ctxsw() {
	local n=0 f v
	for f in $(for p in $(procs "$1"); do echo /proc/"$p"/task/*/status; done); do
		v=$(awk '/^(non)?voluntary_ctxt_switches/ {s += $2} END {print s + 0}' "$f" 2>/dev/null || echo 0)
		n=$((n + v))
	done
	echo "$n"
}
pkts() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets" "/sys/class/net/$2/statistics/tx_packets" | awk '{s += $1} END {print s}'; }

config() { # dir dev peer
	mkdir -p "$1/etc" "$1/state" "$1/run"
	cat >"$1/etc/ha.cf" <<EOF
keepalive $keepalive
deadtime $deadtime
warntime $warntime
initdead 2
udpport 694
logfile $1/ha-log
auto_failback on
ucast $2 $3
node hbprof1 hbprof2
crm off
EOF
	echo "# no resources" >"$1/etc/haresources"
	printf 'auth 1\n1 sha1 secret\n' >"$1/etc/authkeys"
	chmod 600 "$1/etc/authkeys"
}

config_keepalived() { # dir dev prio
	mkdir -p "$1"
	cat >"$1/keepalived.conf" <<EOF
global_defs {
	router_id hbprof$3
	vrrp_version 3
}
vrrp_instance VI_1 {
	state BACKUP
	interface $2
	virtual_router_id 51
	priority $3
	advert_int ${ADVERT:-0.01}
	virtual_ipaddress {
		10.211.0.100/24 dev $2
	}
}
EOF
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

results=$out/results
if [[ ${SYSTEM:-ours} == floor ]]; then
	cc -O2 -Wall -o "$out/floor" "$(dirname "$0")/floor/floor.c"
elif [[ ${SYSTEM:-ours} == gofloor ]]; then
	go build -trimpath -o "$out/floor" "$(cd "$(dirname "$0")" && pwd)/gofloor"
fi
: >"$results"
for run in $(seq 1 "$runs"); do
	cleanup
	ip netns add hbprof-a
	ip netns add hbprof-b
	ip link add hbprof-va netns hbprof-a type veth peer name hbprof-vb netns hbprof-b
	ip -n hbprof-a addr add 10.211.0.1/24 dev hbprof-va
	ip -n hbprof-b addr add 10.211.0.2/24 dev hbprof-vb
	for n in a b; do
		ip -n hbprof-$n link set lo up
		ip -n hbprof-$n link set hbprof-v$n up
	done
	rm -rf "$out/a" "$out/b"
	config "$out/a" hbprof-va 10.211.0.2
	config "$out/b" hbprof-vb 10.211.0.1
	config_keepalived "$out/a" hbprof-va 150
	config_keepalived "$out/b" hbprof-vb 100
	notify=()
	if [[ ${NOTIFY:-0} == 1 ]]; then
		for n in a b; do
			socat -u UNIX-RECV:"$out/$n/notify" OPEN:/dev/null &
			pids+=($!)
		done
		sleep 0.2
	fi
	if [[ ${SPIN:-0} == 1 ]]; then
		for c in 0 1; do
			chrt -i 0 taskset -c "$c" sh -c 'while :; do :; done' &
			pids+=($!)
		done
	fi
	i=0
	dpids=()
	for n in a b; do
		i=$((i + 1))
		pin=()
		[[ ${PIN:-0} != 1 ]] || pin=(taskset -c $((i - 1)))
		[[ ${NOTIFY:-0} != 1 ]] || notify=(NOTIFY_SOCKET="$out/$n/notify" WATCHDOG_USEC=1000000)
		if [[ ${SYSTEM:-ours} == floor || ${SYSTEM:-ours} == gofloor ]]; then
			mode=()
			[[ ${SYSTEM:-ours} != gofloor ]] || mode=(-mode "${GOFLOOR_MODE:-chan}")
			ip netns exec hbprof-$n "${pin[@]}" "$out/floor" "${mode[@]}" "10.211.0.$i" "10.211.0.$((3 - i))" \
				"${keepalive%ms}" "${SIZE:-312}" >"$out/$n/stderr" 2>&1 &
		elif [[ ${SYSTEM:-ours} == keepalived ]]; then
			ip netns exec hbprof-$n "${pin[@]}" keepalived --dont-fork --log-console --vrrp -f "$out/$n/keepalived.conf" \
				-p "$out/$n/keepalived.pid" -r "$out/$n/vrrp.pid" >"$out/$n/stderr" 2>&1 &
		else
			# shellcheck disable=SC2086
			ip netns exec hbprof-$n "${pin[@]}" env "${notify[@]}" ${HB_ENV:-} "$bin" --config-dir "$out/$n/etc" --node-name hbprof$i \
				--state-dir "$out/$n/state" --runtime-dir "$out/$n/run" >"$out/$n/stderr" 2>&1 &
		fi
		dpids+=($!)
		pids+=($!)
	done
	sleep "${WARMUP:-5}" # initdead 2, both nodes up
	for p in "${dpids[@]}"; do
		kill -0 "$p" || { echo "daemon $p died:" >&2; cat "$out"/?/stderr >&2; exit 1; }
	done
	# ip netns exec execs the daemon: $! is the daemon's pid.
	declare -A t0 c0 p0 f0
	for k in 0 1; do
		n=$([[ $k == 0 ]] && echo a || echo b)
		t0[$k]=$(cpuns "${dpids[$k]}")
		c0[$k]=$(ctxsw "${dpids[$k]}")
		f0[$k]=$(minflt "${dpids[$k]}")
		p0[$k]=$(pkts hbprof-$n hbprof-v$n)
	done
	if [[ ${PERF:-0} == 1 ]]; then
		perf record -g -o "$out/perf.data.$run" -p "${dpids[0]}" -- sleep "$window" >/dev/null 2>&1 &
		perfpid=$!
	fi
	sleep "$window"
	for k in 0 1; do
		n=$([[ $k == 0 ]] && echo a || echo b)
		dt=$(($(cpuns "${dpids[$k]}") - ${t0[$k]}))
		dc=$(($(ctxsw "${dpids[$k]}") - ${c0[$k]}))
		df=$(($(minflt "${dpids[$k]}") - ${f0[$k]}))
		dp=$(($(pkts hbprof-$n hbprof-v$n) - ${p0[$k]}))
		awk -v run="$run" -v n="$n" -v dt="$dt" -v dc="$dc" -v dp="$dp" -v w="$window" -v df="$df" 'BEGIN {
			printf "run %d node %s: %.1f ms CPU, %d packets (%.1f/s), %.1f µs/packet, %.2f wake-ups/packet, %.2f page faults/packet, %.3f%% of a core\n",
				run, n, dt / 1e6, dp, dp / w, dt / 1e3 / dp, dc / dp, df / dp, dt / 1e7 / w
		}'
		awk -v dt="$dt" -v dc="$dc" -v dp="$dp" 'BEGIN {print dt / 1e3 / dp, dc / dp}' >>"$results"
	done
	[[ -z ${perfpid:-} ]] || { wait "$perfpid" || true; unset perfpid; }
	if [[ ${STRACE:-0} == 1 ]] && command -v strace >/dev/null; then
		timeout -s INT 10 strace -c -f -p "${dpids[0]}" -o "$out/strace.$run" || true
		echo "strace of node a, 10 s:"
		head -25 "$out/strace.$run"
	fi
done
cleanup
printf 'median over %d runs x 2 nodes: %s µs/packet, %s wake-ups/packet\n' "$runs" \
	"$(cut -d' ' -f1 "$results" | median)" "$(cut -d' ' -f2 "$results" | median)"
