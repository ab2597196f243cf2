#!/usr/bin/env bash
# The plain KV hot path of this work tree against an earlier commit's
# (make bench-hotpath BASE=<rev>; issue 24's goal 4: the KV API gets no
# slower while other work lands). It builds BASE's server and this tree's
# server and bench client, then runs, interleaved and REPS times each
# (base, this, base, this ...), a fresh 3-node `harmonia launch` cluster of
# each on loopback with fsync on, driven by this tree's `harmonia bench`
# for both arms (a client that differs between arms measures the clients):
#
#   write       workload w: blind W=2 puts of new keys
#   read-r2     workload c at R=2 over 10,000 loaded keys
#   strong-cas  (not by default) workload w on a strong table: put-if-absent
#               of new keys, each through consensus
#   strong-get  (not by default) workload c on a strong table: linearizable
#               gets over 10,000 loaded keys
#
# with CLIENTS clients over CONNS connections for DURATION seconds after a
# 2 s warmup. Each line gives the arm, the row, ops/s and the servers' CPU
# per operation (summed over the three nodes); compare medians, not runs.
set -euo pipefail

BASE=${BASE:?set BASE to the commit to compare with, e.g. BASE=HEAD~1}
REPS=${REPS:-3}
DURATION=${DURATION:-20}
CLIENTS=${CLIENTS:-64}
CONNS=${CONNS:-3}
ROWS=${ROWS:-"write read-r2"}

root=$(git rev-parse --show-toplevel)
work=$(mktemp -d /tmp/hotpath.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	git -C "$root" worktree remove --force "$work/base-src" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "building this tree and $BASE ($(git -C "$root" rev-parse --short "$BASE"))" >&2
(cd "$root" && go build -o "$work/this" ./cmd/harmonia)
git -C "$root" worktree add --detach --force "$work/base-src" "$BASE" >/dev/null 2>&1
(cd "$work/base-src" && go build -o "$work/base" ./cmd/harmonia)

addrs=127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003

run() { # arm binary row
	local arm=$1 bin=$2 row=$3 dir="$work/data-$1"
	rm -rf "$dir"
	"$bin" launch --dir "$dir" >"$work/launch-$arm.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	local up=
	for _ in $(seq 150); do # launch answers within seconds
		if "$work/this" status --addr 127.0.0.1:8001 >/dev/null 2>&1; then up=1; break; fi
		sleep 0.2
	done
	if [ -z "$up" ] || ! "$work/this" cluster wait --addr 127.0.0.1:8001 --for 60s >/dev/null 2>&1; then
		echo "arm=$arm: the cluster did not settle; its log:" >&2
		tail -20 "$work/launch-$arm.log" >&2
		exit 1
	fi
	local args=(--workload w --w 2)
	case "$row" in
	read-r2) args=(--workload c --r 2) ;;
	strong-cas | strong-get)
		# A table name has at least 3 characters.
		if ! "$work/this" table create hotpath --consistency strong --addr 127.0.0.1:8001 >/dev/null 2>&1; then
			echo "arm=$arm row=$row: could not create the strong table" >&2
			exit 1
		fi
		args=(--table hotpath --workload w)
		[ "$row" = strong-get ] && args=(--table hotpath --workload c)
		;;
	esac
	local out
	out=$("$work/this" bench --addr "$addrs" --conns "$CONNS" --clients "$CLIENTS" "${args[@]}" \
		--duration "${DURATION}s" --warmup 2s 2>&1) || true # a failed bench's report is shown below
	kill -INT "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	local ops cpu
	ops=$(grep -oE '[0-9.]+ ops/s' <<<"$out" | cut -d' ' -f1 || true)
	cpu=$(grep -oE '[0-9.]+ ms CPU per op' <<<"$out" | cut -d' ' -f1 || true)
	if [ -z "$ops" ] || [ -z "$cpu" ]; then
		echo "arm=$arm row=$row: no figures in the bench's report:" >&2
		echo "$out" >&2
		exit 1
	fi
	echo "arm=$arm row=$row ops_s=$ops cpu_ms_op=$cpu load=$(cut -d' ' -f1 /proc/loadavg)"
}

for rep in $(seq "$REPS"); do
	for row in $ROWS; do
		run base "$work/base" "$row"
		run this "$work/this" "$row"
	done
done
