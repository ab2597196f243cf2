#!/usr/bin/env bash
# Side-by-side benchmark of HarmoniaKV and etcd on this machine (make
# bench-etcd). It builds etcd and etcd's own benchmark tool from the Go module
# proxy into a cache directory, then runs, interleaved and REPS times each
# (etcd, HarmoniaKV, etcd, HarmoniaKV ...), a fresh 3-node cluster of each on
# loopback with fsync on and the same value size and concurrency, every
# endpoint used:
#
#   write        etcd put (sequential keys over a 1,000,000-key space)
#                vs HarmoniaKV workload w (blind W=2 puts of new keys)
#   read, lin.   etcd linearizable gets of random keys among KEYS loaded
#                ones (etcd-load get) vs HarmoniaKV workload c at R=2 over
#                KEYS loaded keys
#   read, ser.   the same with etcd's serializable gets (etcd-load sget)
#                vs HarmoniaKV workload c at R=1
#   update       HarmoniaKV workload a (get, then put with its context)
#   write-kill   the write row again, with one node killed (SIGKILL) a third
#                of the way through: etcd's leader (it must elect another)
#                and HarmoniaKV's n2 (W=2 still holds with two nodes), for
#                DURATION seconds, with clients that move to another
#                endpoint (etcd-load, built here, for etcd: its benchmark
#                tool cannot); the per-second throughput is in the raw lines.
#
# and the rows of strong tables (HarmoniaKV's consensus registers):
#
#   cas          etcd txn-put (one put per transaction, 1,000,000 keys)
#                vs put-if-absent of new keys on a strong table
#   strong-read  etcd linearizable get of random keys among KEYS loaded
#                ones (etcd-load get) vs strong gets of KEYS loaded keys
#   cas-kill     the cas row with a node killed a third of the way through:
#                etcd-load's puts with etcd's leader killed, vs HarmoniaKV's
#                put-if-absent with n2 killed
#   hot-key      HarmoniaKV only: CLIENTS clients read and compare-and-set
#                one key (workload a, --keys 1); failed conditions count as
#                errors, the others must be none or few
#
# and the row of items:
#
#   query        etcd linearizable range of the QUERY_ITEMS keys under one
#                of QUERY_KEYS prefixes (etcd-load range) vs a Query of
#                the QUERY_ITEMS items of one of QUERY_KEYS partition keys
#                of an eventual table of items at R=2 (bench workload q)
#
# Every row runs once for each connection count of CONNS_SET ("3 64": one
# per node, and one per client), the same on both sides (etcd's --conns,
# HarmoniaKV bench's --conns): etcd is 28-40% faster with 3 connections
# than with 64, so a comparison at unequal counts is not one.
#
# and prints, per row and connection count, the median and spread of ops/s, p99 and the servers'
# CPU per operation (utime+stime of the three server processes, from /proc,
# over the measured run), and each server's resident memory after it.
#
# --build-only builds the binaries and prints their paths.
#
# Settings (environment): REPS (3), DURATION seconds per HarmoniaKV run (20),
# ROWS (the rows to run, space-separated; default all), QUERY_KEYS (100)
# and QUERY_ITEMS (100) for the query row,
# CLIENTS (64), VALUE bytes (100), KEYS loaded for reads (10000), ETCD_TOTAL_*
# requests per etcd run (sized to take about DURATION), CACHE directory
# (~/.cache/harmonia-bench), WORK directory (a fresh temporary one), OUT file
# for the raw lines (WORK/results.txt).
set -euo pipefail

REPS=${REPS:-3}
DURATION=${DURATION:-20}
CLIENTS=${CLIENTS:-64}
VALUE=${VALUE:-100}
KEYS=${KEYS:-10000}
ETCD_TOTAL_PUT=${ETCD_TOTAL_PUT:-60000}
ROWS=${ROWS:-write read-lin read-ser update write-kill cas strong-read cas-kill hot-key query}
QUERY_KEYS=${QUERY_KEYS:-100}
QUERY_ITEMS=${QUERY_ITEMS:-100}
CONNS_SET=${CONNS_SET:-3 64}
ETCD_TOTAL_TXN=${ETCD_TOTAL_TXN:-60000}
KILL_AFTER=$((DURATION / 3))
ETCD_VERSION=v3.7.3
ETCD_BENCH_VERSION=v3.6.8
CACHE=${CACHE:-$HOME/.cache/harmonia-bench}
WORK=${WORK:-$(mktemp -d /tmp/harmonia-vs-etcd.XXXXXX)}
OUT=${OUT:-$WORK/results.txt}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HZ=$(getconf CLK_TCK)

log() { echo "== $*" >&2; }

row() { [[ " $ROWS " == *" $1 "* ]]; }

# build_wrapper DIR MODULE@VERSION MAIN_PATH_IN_MODULE: a main module whose
# main.go is the module's own, built with go mod tidy (go install refuses
# modules with replace directives).
build_wrapper() {
  local dir=$1 modver=$2 mainpath=$3 bin=$4
  [ -x "$dir/$bin" ] && return 0
  log "building $bin from $modver (once; cached in $dir)"
  rm -rf "$dir/src" && mkdir -p "$dir/src"
  local src
  src=$(cd "$dir/src" && go mod download -json "$modver" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  cp "$src/$mainpath" "$dir/src/main.go"
  chmod u+w "$dir/src/main.go"
  (cd "$dir/src" && go mod init harmonia-bench/"$bin" >/dev/null 2>&1 &&
    go mod edit -require="$modver" && go mod tidy >/dev/null 2>&1 && go build -o "$dir/$bin" .)
}

build_tools() {
  mkdir -p "$CACHE"
  build_wrapper "$CACHE/etcd-$ETCD_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION" main.go etcd
  build_wrapper "$CACHE/etcd-benchmark-$ETCD_BENCH_VERSION" "go.etcd.io/etcd/v3@$ETCD_BENCH_VERSION" tools/benchmark/main.go benchmark
  ETCD=$CACHE/etcd-$ETCD_VERSION/etcd
  ETCD_BENCH=$CACHE/etcd-benchmark-$ETCD_BENCH_VERSION/benchmark
  # etcd-put writes the hot key the range rows read (the benchmark tool's
  # own put writes binary keys that range cannot name).
  ETCD_PUT=$CACHE/etcd-$ETCD_VERSION/etcd-put
  if [ ! -x "$ETCD_PUT" ]; then
    mkdir -p "$CACHE/etcd-$ETCD_VERSION/src/cmd/etcd-put"
    cat >"$CACHE/etcd-$ETCD_VERSION/src/cmd/etcd-put/main.go" <<'GO'
// etcd-put ENDPOINTS KEY VALUE_BYTES writes one key.
package main

import (
	"context"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	n, err := strconv.Atoi(os.Args[3])
	if err != nil {
		log.Fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(os.Args[1], ","), DialTimeout: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, os.Args[2], strings.Repeat("v", n)); err != nil {
		log.Fatal(err)
	}
}
GO
    (cd "$CACHE/etcd-$ETCD_VERSION/src" && go mod tidy >/dev/null 2>&1 && go build -o "$ETCD_PUT" ./cmd/etcd-put)
  fi
  # etcd-leader ENDPOINTS prints the 1-based position of the leader's
  # endpoint; etcd-load is the kill row's load: etcd's benchmark tool binds
  # each connection to one endpoint, so a third of its clients would wait
  # on the killed member for ever, where etcd-load's clients, like
  # HarmoniaKV's bench workers, move to another endpoint.
  ETCD_LEADER=$CACHE/etcd-$ETCD_VERSION/etcd-leader
  ETCD_LOAD=$CACHE/etcd-$ETCD_VERSION/etcd-load-v3 # v3: with the sget and range modes and ITEMS
  if [ ! -x "$ETCD_LEADER" ] || [ ! -x "$ETCD_LOAD" ]; then
    mkdir -p "$CACHE/etcd-$ETCD_VERSION/src/cmd/etcd-leader" "$CACHE/etcd-$ETCD_VERSION/src/cmd/etcd-load"
    cat >"$CACHE/etcd-$ETCD_VERSION/src/cmd/etcd-leader/main.go" <<'GO'
// etcd-leader ENDPOINTS prints the 1-based position of the leader's endpoint.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	eps := strings.Split(os.Args[1], ",")
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for i, ep := range eps {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := c.Status(ctx, ep)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			fmt.Println(i + 1)
			return
		}
	}
	log.Fatal("no leader")
}
GO
    cat >"$CACHE/etcd-$ETCD_VERSION/src/cmd/etcd-load/main.go" <<'GO'
// etcd-load ENDPOINTS CLIENTS SECONDS VALUE_BYTES [MODE [KEYS [CONNS [ITEMS]]]]
// runs, from CLIENTS clients over CONNS connections (default: one per
// client), each connected to every endpoint (so it fails over), for
// SECONDS, MODE put (puts of new keys, the default), get (first loads
// KEYS keys, then linearizable gets of random ones), sget (the same with
// serializable gets) or range (first loads
// ITEMS keys under each of KEYS prefixes, then linearizable ranges of the
// keys of a random prefix), and prints one line: ops_s, p99_ms, errors,
// per_second.
package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	eps := strings.Split(os.Args[1], ",")
	clients, _ := strconv.Atoi(os.Args[2])
	secs, _ := strconv.Atoi(os.Args[3])
	size, _ := strconv.Atoi(os.Args[4])
	value := strings.Repeat("v", size)
	mode, keys, conns, items := "put", 0, clients, 1
	if len(os.Args) > 5 {
		mode = os.Args[5]
	}
	if len(os.Args) > 6 {
		keys, _ = strconv.Atoi(os.Args[6])
	}
	if len(os.Args) > 7 {
		conns, _ = strconv.Atoi(os.Args[7])
	}
	if len(os.Args) > 8 {
		items, _ = strconv.Atoi(os.Args[8])
	}
	name := func(k int) string { return fmt.Sprintf("r%07d", k) }
	if mode == "range" {
		name = func(k int) string { return fmt.Sprintf("q%05d/%05d", k/items, k%items) }
	}
	var pool []*clientv3.Client
	for range max(conns, 1) {
		c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second})
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		pool = append(pool, c)
	}
	if mode == "get" || mode == "sget" || mode == "range" {
		var next atomic.Int64
		var lw sync.WaitGroup
		for i := range clients {
			c := pool[i%len(pool)]
			lw.Add(1)
			go func() {
				defer lw.Done()
				for k := next.Add(1) - 1; k < int64(keys*items); k = next.Add(1) - 1 {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					if _, err := c.Put(ctx, name(int(k)), value); err != nil {
						log.Fatal(err)
					}
					cancel()
				}
			}()
		}
		lw.Wait()
	}
	start := time.Now()
	end := start.Add(time.Duration(secs) * time.Second)
	perSecond := make([]atomic.Int64, secs+1)
	var errs, seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start = time.Now()
	end = start.Add(time.Duration(secs) * time.Second)
	for i := range clients {
		c := pool[i%len(pool)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			var mine []time.Duration
			for time.Now().Before(end) {
				t := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				var err error
				switch mode {
				case "get":
					_, err = c.Get(ctx, name(rng.IntN(keys)))
				case "sget":
					_, err = c.Get(ctx, name(rng.IntN(keys)), clientv3.WithSerializable())
				case "range":
					var res *clientv3.GetResponse
					res, err = c.Get(ctx, fmt.Sprintf("q%05d/", rng.IntN(keys)), clientv3.WithPrefix())
					if err == nil && len(res.Kvs) != items {
						err = fmt.Errorf("a range of %d keys, want %d", len(res.Kvs), items)
					}
				default:
					_, err = c.Put(ctx, fmt.Sprintf("k%07d", seq.Add(1)%1000000), value)
				}
				cancel()
				if err != nil {
					errs.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mine = append(mine, time.Since(t))
				if i := int(time.Since(start) / time.Second); i < len(perSecond) {
					perSecond[i].Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	p99 := 0.0
	if len(lat) > 0 {
		p99 = float64(lat[len(lat)*99/100].Microseconds()) / 1000
	}
	series := make([]string, secs)
	for i := range series {
		series[i] = strconv.FormatInt(perSecond[i].Load(), 10)
	}
	fmt.Printf("ops_s=%.1f p99_ms=%.2f errors=%d per_second=%s\n", float64(len(lat))/float64(secs), p99, errs.Load(), strings.Join(series, ","))
}
GO
    (cd "$CACHE/etcd-$ETCD_VERSION/src" && go mod tidy >/dev/null 2>&1 &&
      go build -o "$ETCD_LEADER" ./cmd/etcd-leader && go build -o "$ETCD_LOAD" ./cmd/etcd-load)
  fi
  log "building harmonia"
  (cd "$ROOT" && go build -o "$WORK/harmonia" ./cmd/harmonia)
  HARMONIA=$WORK/harmonia
}

# cpu_ticks PID...: utime+stime of the processes, in clock ticks.
cpu_ticks() {
  local t=0 p f
  for p in "$@"; do
    read -r -a f <"/proc/$p/stat"
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}

# rss_mib PID...: each process's resident set in MiB, comma-separated.
rss_mib() {
  local p out=""
  for p in "$@"; do
    out+="$(awk '/^VmRSS:/ {printf "%.0f", $2/1024}' "/proc/$p/status"),"
  done
  echo "${out%,}"
}

ETCD_PIDS=()
HARMONIA_PID=""
cleanup() {
  [ ${#ETCD_PIDS[@]} -gt 0 ] && kill "${ETCD_PIDS[@]}" 2>/dev/null || true
  [ -n "$HARMONIA_PID" ] && kill "$HARMONIA_PID" 2>/dev/null || true
  pkill -f "$WORK/harmonia server" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

EP=127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793

start_etcd() {
  local d=$WORK/etcd i cluster=""
  rm -rf "$d" && mkdir -p "$d"
  for i in 1 2 3; do cluster+="e$i=http://127.0.0.1:2380$i,"; done
  ETCD_PIDS=()
  for i in 1 2 3; do
    "$ETCD" --name "e$i" --data-dir "$d/e$i" \
      --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
      --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
      --initial-cluster "${cluster%,}" --initial-cluster-state new --initial-cluster-token bench \
      --log-level error >"$d/e$i.log" 2>&1 &
    ETCD_PIDS+=($!)
  done
  local n
  for n in $(seq 100); do
    "$ETCD_PUT" "$EP" hot "$VALUE" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "etcd did not start; logs in $d" >&2
  exit 1
}

stop_etcd() {
  kill "${ETCD_PIDS[@]}" 2>/dev/null || true
  wait "${ETCD_PIDS[@]}" 2>/dev/null || true
  ETCD_PIDS=()
}

# etcd_run ROW TOTAL ARGS...: one etcd benchmark run of TOTAL requests, one
# result line.
etcd_run() {
  local row=$1 n=$2
  shift 2
  local c0 c1 out ops p99
  c0=$(cpu_ticks "${ETCD_PIDS[@]}")
  out=$("$ETCD_BENCH" --endpoints="$EP" --conns="$CONNS" --clients="$CLIENTS" "$@" --total="$n" 2>&1)
  c1=$(cpu_ticks "${ETCD_PIDS[@]}")
  ops=$(echo "$out" | awk '/Requests\/sec:/ {print $2}')
  p99=$(echo "$out" | awk '/99% in/ {printf "%.2f", $3*1000}')
  echo "system=etcd row=$row ops_s=$ops p99_ms=$p99 cpu_ms_op=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$n" 'BEGIN {printf "%.3f", t*1000/hz/n}') rss_mib=$(rss_mib "${ETCD_PIDS[@]}") load=$(cut -d' ' -f1 /proc/loadavg) conns=$CONNS" | tee -a "$OUT"
}

# etcd_kill_run ROW: a kill row for etcd, with etcd-load's puts; the
# leader is killed KILL_AFTER seconds in.
etcd_kill_run() {
  local leader
  leader=$("$ETCD_LEADER" "$EP")
  VICTIM=${ETCD_PIDS[$((leader - 1))]}
  etcd_load_run "$1" put "$CONNS"
}

# etcd_load_run ROW MODE CONNS [KEYS [ITEMS]]: one etcd-load run (put, get
# or range), one result line; with VICTIM set, that member is killed
# KILL_AFTER seconds in.
etcd_load_run() {
  local row=$1 mode=$2 conns=$3 keys=${4:-$KEYS} items=${5:-1} c0 c1 out n killed=""
  [ -n "${VICTIM:-}" ] && killed=" killed=leader"
  c0=$(cpu_ticks $(others "${VICTIM:-}" "${ETCD_PIDS[@]}"))
  # Its stderr has the client library's retry warnings; stdout, one line.
  "$ETCD_LOAD" "$EP" "$CLIENTS" "$DURATION" "$VALUE" "$mode" "$keys" "$conns" "$items" >"$WORK/run.out" 2>"$WORK/run.err" &
  kill_victim $!
  VICTIM=""
  out=$(tail -n 1 "$WORK/run.out")
  c1=$(cpu_ticks $(live "${ETCD_PIDS[@]}"))
  n=$(echo "$out" | sed -n 's/.*ops_s=\([0-9.]*\).*/\1/p' | awk -v d="$DURATION" '{printf "%d", $1*d}')
  echo "system=etcd row=$row $out cpu_ms_op=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="${n:-0}" 'BEGIN {if (n > 0) printf "%.3f", t*1000/hz/n}') rss_mib=$(rss_mib $(live "${ETCD_PIDS[@]}")) load=$(cut -d' ' -f1 /proc/loadavg) conns=$conns$killed" | tee -a "$OUT"
}

# kill_victim PID: with VICTIM set, kill it (SIGKILL) KILL_AFTER seconds
# into the run of PID; then wait for that run to end.
kill_victim() {
  if [ -n "${VICTIM:-}" ]; then
    sleep "$KILL_AFTER"
    kill -9 "$VICTIM"
  fi
  wait "$1" || true
}

# others VICTIM PID...: the PIDs but VICTIM's. A kill row's CPU per op
# counts the survivors only, as the killed process's CPU is lost with it.
others() {
  local v=$1 p
  shift
  for p in "$@"; do [ "$p" != "$v" ] && echo "$p"; done
  return 0
}

# live PID...: those of the processes that still run.
live() {
  local p
  for p in "$@"; do [ -e "/proc/$p/stat" ] && echo "$p"; done
  return 0
}

run_etcd() {
  start_etcd
  local put=(put --key-size=8 --sequential-keys --key-space-size=1000000 --val-size="$VALUE")
  if row write; then etcd_run write "$ETCD_TOTAL_PUT" "${put[@]}"; fi
  # Reads of random keys among KEYS loaded ones, as HarmoniaKV's (etcd's
  # benchmark tool reads one hot key, which flatters it).
  if row read-lin; then etcd_load_run read-lin get "$CONNS"; fi
  if row read-ser; then etcd_load_run read-ser sget "$CONNS"; fi
  if row write-kill; then
    etcd_kill_run write-kill
    stop_etcd
    start_etcd # a fresh cluster: the kill left one member dead
  fi
  if row cas; then etcd_run cas "$ETCD_TOTAL_TXN" txn-put --key-size=8 --key-space-size=1000000 --val-size="$VALUE"; fi
  if row strong-read; then etcd_load_run strong-read get "$CONNS"; fi
  if row cas-kill; then
    etcd_kill_run cas-kill
    stop_etcd
    start_etcd
  fi
  if row query; then etcd_load_run query range "$CONNS" "$QUERY_KEYS" "$QUERY_ITEMS"; fi
  stop_etcd
}

harmonia_pids() { pgrep -f "$WORK/harmonia server.*--data-dir $WORK/h/" | tr '\n' ' '; }

# harmonia_run ROW ARGS...: one harmonia bench run, one result line.
harmonia_run() {
  local row=$1
  shift
  local pids c0 c1 out ops n p99 series=""
  read -r -a pids <<<"$(harmonia_pids)"
  c0=$(cpu_ticks $(others "${VICTIM:-}" "${pids[@]}"))
  "$HARMONIA" bench --addr "$HA" --conns "$CONNS" --clients "$CLIENTS" --duration "${DURATION}s" --no-load --keys "$KEYS" --value-size "$VALUE" --json ${VICTIM:+--timeline} "$@" >"$WORK/run.out" 2>/dev/null &
  kill_victim $!
  out=$(cat "$WORK/run.out")
  c1=$(cpu_ticks $(live "${pids[@]}"))
  if [ -n "${VICTIM:-}" ]; then
    series=" per_second=$(echo "$out" | awk '/"ops":/ {gsub(/,/, "", $2); printf "%s%s", sep, $2; sep=","}')"
    series+=" errors=$(echo "$out" | sed -n 's/^  "total_errors": \(.*\),$/\1/p')"
  fi
  ops=$(echo "$out" | sed -n 's/^  "ops_per_sec": \(.*\),$/\1/p')
  # A Query short of its items means the key space was not loaded: such a
  # run measures nothing and stops the script. (A read at R=1 may miss a
  # write still on its way to that replica: the other rows count, not stop.)
  local missed
  missed=$(echo "$out" | awk '/"not_found":/ {gsub(/,/, "", $2); s += $2} END {print s + 0}')
  if [ "$row" = query ] && [ "$missed" != 0 ]; then
    echo "harmonia row=$row: $missed reads found less than was loaded; not a measurement" >&2
    exit 1
  fi
  n=$(echo "$out" | sed -n 's/^  "total_ops": \(.*\),$/\1/p')
  # p99 of the op the row is about: write, read, or update (workload a).
  p99=$(echo "$out" | awk -v op="$P99_OF" '$0 ~ "^  \"" op "\": \\{" {f=1} f && /"p99_ms"/ {gsub(/[,]/, "", $2); print $2; exit}')
  echo "system=harmonia row=$row ops_s=$ops p99_ms=$p99 cpu_ms_op=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$n" 'BEGIN {printf "%.3f", t*1000/hz/n}') rss_mib=$(rss_mib $(live "${pids[@]}")) load=$(cut -d' ' -f1 /proc/loadavg) conns=$CONNS$series" | tee -a "$OUT"
}

HA=127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003

start_harmonia() {
  rm -rf "$WORK/h"
  "$HARMONIA" launch --dir "$WORK/h" >"$WORK/h-launch.log" 2>&1 &
  HARMONIA_PID=$!
  # Every node must take a write: one that has not yet heard from its
  # peers refuses requests, and the load's first error stops the script.
  # One that never does (30 s) would leave the rows comparing two nodes
  # with etcd's three: the run stops, naming it.
  local n port
  for port in 8001 8002 8003; do
    for n in $(seq 150); do
      "$HARMONIA" put --addr "127.0.0.1:$port" bench-ready x >/dev/null 2>&1 && continue 2
      sleep 0.2
    done
    echo "compare.sh: the node at 127.0.0.1:$port took no write in 30 s (see $WORK/h-launch.log)" >&2
    exit 1
  done
}

stop_harmonia() {
  kill "$HARMONIA_PID"
  wait "$HARMONIA_PID" 2>/dev/null || true
  HARMONIA_PID=""
  pkill -f "$WORK/harmonia server" 2>/dev/null || true
}

# restart_harmonia: a fresh cluster, after a kill row.
restart_harmonia() {
  stop_harmonia
  start_harmonia
}

run_harmonia() {
  start_harmonia
  "$HARMONIA" bench --addr "$HA" --clients "$CLIENTS" --keys "$KEYS" --value-size "$VALUE" --ops 1 --workload c >/dev/null 2>&1
  if row write; then P99_OF=write harmonia_run write --workload w --w 2; fi
  if row read-lin; then P99_OF=read harmonia_run read-lin --workload c --r 2; fi
  if row read-ser; then P99_OF=read harmonia_run read-ser --workload c --r 1; fi
  if row update; then P99_OF=update harmonia_run update --workload a --r 2 --w 2; fi
  if row write-kill; then
    VICTIM=$(pgrep -f "$WORK/harmonia server.*--data-dir $WORK/h/n2") P99_OF=write harmonia_run write-kill --workload w --w 2
    restart_harmonia
  fi
  if row cas || row strong-read || row cas-kill || row hot-key; then
    "$HARMONIA" table create sbench --consistency strong --addr 127.0.0.1:8001 >/dev/null
    "$HARMONIA" bench --addr "$HA" --table sbench --clients "$CLIENTS" --keys "$KEYS" --value-size "$VALUE" --ops 1 --workload c >/dev/null 2>&1
  fi
  if row cas; then P99_OF=write harmonia_run cas --workload w --table sbench; fi
  if row strong-read; then P99_OF=read harmonia_run strong-read --workload c --table sbench; fi
  if row hot-key; then P99_OF=update harmonia_run hot-key --workload a --keys 1 --table sbench; fi
  if row cas-kill; then
    VICTIM=$(pgrep -f "$WORK/harmonia server.*--data-dir $WORK/h/n2") P99_OF=write harmonia_run cas-kill --workload w --table sbench
    restart_harmonia
  fi
  if row query; then
    "$HARMONIA" table create qbench --consistency eventual --partition-key user:S --sort-key at:N --addr 127.0.0.1:8001 >/dev/null
    "$HARMONIA" bench --addr "$HA" --table qbench --clients "$CLIENTS" --keys "$QUERY_KEYS" --items "$QUERY_ITEMS" --value-size "$VALUE" --ops 1 --workload c >/dev/null 2>&1
    P99_OF=read harmonia_run query --workload q --table qbench --keys "$QUERY_KEYS" --items "$QUERY_ITEMS"
  fi
  stop_harmonia
}

# summary: median [min–max] per row, connection count and system.
summary() {
  echo
  echo "| row | conns | system | ops/s median [min–max] | p99 ms median | server CPU ms/op median [min–max] | RSS MiB per node (last run) |"
  echo "|---|---|---|---|---|---|---|"
  local row sys c
  for row in write read-lin read-ser update write-kill cas strong-read cas-kill hot-key query; do
    for c in $CONNS_SET; do
    for sys in etcd harmonia; do
      grep "system=$sys row=$row " "$OUT" | grep -q " conns=$c\b" || continue
      grep "system=$sys row=$row " "$OUT" | grep " conns=$c\b" | awk -v row="$row" -v sys="$sys" -v conns="$c" '
        function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } n++; ops[n] = v["ops_s"]; p99[n] = v["p99_ms"]; cpu[n] = v["cpu_ms_op"]; rss = v["rss_mib"] }
        END {
          for (i = 1; i <= n; i++) { o[i] = ops[i]; c[i] = cpu[i] }
          mo = med(o, n); mp = med(p99, n); mc = med(c, n)
          printf "| %s | %s | %s | %.0f [%.0f–%.0f] | %.2f | %.3f [%.3f–%.3f] | %s |\n", row, conns, sys, mo, o[1], o[n], mp, mc, c[1], c[n], rss
        }'
    done
    done
  done
}

# kill_summary: per system, the kill row's worst one-second throughput and
# the seconds below half its own median second, from each run's series.
kill_summary() {
  grep -q "row=[a-z]*-kill " "$OUT" || return 0
  echo
  echo "| kill run | conns | system | ops/s | failed requests | worst second (ops) | seconds under half the median second |"
  echo "|---|---|---|---|---|---|---|"
  grep "row=[a-z]*-kill " "$OUT" | awk -v d="$DURATION" '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      n = split(v["per_second"], ps, ","); if (n > d) n = d  # a last partial second is left out
      for (i = 1; i <= n; i++) srt[i] = ps[i] + 0
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (srt[j] < srt[i]) { t = srt[i]; srt[i] = srt[j]; srt[j] = t }
      med = srt[int((n + 1) / 2)]; low = 0
      for (i = 1; i <= n; i++) if (ps[i] + 0 < med / 2) low++
      run[v["row"] v["system"] v["conns"]]++
      printf "| %s %d | %s | %s | %.0f | %s | %d | %d |\n", v["row"], run[v["row"] v["system"] v["conns"]], v["conns"], v["system"], v["ops_s"], v["errors"], srt[1], low }'
}

main() {
  build_tools
  if [ "${1:-}" = "--build-only" ]; then
    echo "$ETCD $ETCD_BENCH $ETCD_PUT $ETCD_LEADER $ETCD_LOAD $HARMONIA"
    return
  fi
  log "results in $OUT; $REPS repetitions, $CLIENTS clients, $VALUE-byte values, $(nproc) cores"
  : >"$OUT"
  local r
  for r in $(seq "$REPS"); do
    for CONNS in $CONNS_SET; do
      log "repetition $r, $CONNS connections: etcd"
      run_etcd
      log "repetition $r, $CONNS connections: harmonia"
      run_harmonia
    done
  done
  { summary; kill_summary; } | tee -a "$OUT"
}

main "$@"
