#!/usr/bin/env bash
# Issue 16's figures in one go: booking throughput and p99 (wrk, every request a distinct free
# slot: Benchmarks/wrk/book.lua) against
#   1. a single node (--replication off),
#   2. a primary in --replication async with one standby following it,
#   3. a primary in --replication sync with one standby (each acknowledgement waits for the
#      standby's confirmation),
# each run on new release servers (fsync always, the load-test configuration) on free loopback
# ports, standby and primary on the same machine (static roles: no etcd is needed to measure the
# write path). After each replicated measurement the standby must reach the primary's LSN. Prints
# the median and range of each figure and the ratios of the single node's throughput.
# Usage: bash Benchmarks/replication.sh [runs, default 3] [seconds per measurement, default 15] [connections, default 64]
# Pinned (a standby on a core of its own): SERVER_CPUS=0 WRK_CPUS=0 STANDBY_CPUS=1 bash Benchmarks/replication.sh
# puts every primary (and the single node) and wrk on CPU 0 and the standby on CPU 1 (taskset).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
source scripts/test-server.sh
bench_setup "${2:-15}" "${3:-64}"
results="$reports/replication.tsv"
: >"$results"
[ -n "${SERVER_CPUS:-}" ] && echo "pinned: servers on CPU $SERVER_CPUS, wrk on CPU ${WRK_CPUS:-any}, standbys on CPU ${STANDBY_CPUS:-any}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${duration} s per measurement, $connections connections, wrk -t2; primary, standby and wrk share the cores and the disk"
common=(--fsync always --bcrypt-cost 4 --admin-password bench-admin --grpc false --load-test-seats 2000
    --max-upcoming 100000000 --booking-attempts-per-second 0 --registrations-per-hour 100000000 --hashes-per-client 100000)
secret=bench-replication-secret
json_field() { python3 -c 'import json,sys;print(json.load(sys.stdin).get(sys.argv[1]))' "$1"; }
for run in $(seq 1 "$runs"); do
    for mode in single async sync; do
        (
            if [ "$mode" = single ]; then
                start_server .build/release/dlsms "${common[@]}"
            else
                start_server .build/release/dlsms "${common[@]}" --replication "$mode" --replication-secret "$secret"
                standby_data=$(mktemp -d)
                standby_log=$(mktemp)
                ${STANDBY_CPUS:+taskset -c "$STANDBY_CPUS"} .build/release/dlsms serve --port 0 --data-dir "$standby_data" \
                    --log-level warning --grpc false \
                    --replication "$mode" --replication-secret "$secret" --primary "$base" >"$standby_log" 2>&1 &
                standby=$!
                cleanup="$standby_data $standby_log"
                trap 'kill $standby $server 2>/dev/null || true; wait $standby $server 2>/dev/null || true; rm -rf "$server_data" "$server_log" ${cleanup:-}' EXIT
                for _ in $(seq 1 300); do
                    standby_port=$(sed -n 's/^dlsms listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$standby_log")
                    [ -n "$standby_port" ] && curl -sf "127.0.0.1:$standby_port/healthz/standby" >/dev/null && break
                    sleep 0.1
                done
                curl -sf "127.0.0.1:$standby_port/healthz/standby" >/dev/null || { cat "$standby_log" >&2; exit 1; }
            fi
            bench_students 16 "bench$run$mode"
            first=$(( ($(date +%s) / 900 + 4) * 900 ))
            if [ "$mode" != single ]; then
                # What an async failover could lose: how far the standby is behind the primary's
                # durable log during the load (both read at the same moment, every 100 ms).
                python3 - "$base" "127.0.0.1:$standby_port" >"$reports/lag-$run-$mode.txt" <<'PY' &
import json, sys, threading, time, urllib.request
def lsn(url, path):
    with urllib.request.urlopen("http://" + url.removeprefix("http://") + path, timeout=1) as r:
        return json.load(r)["durable_lsn"]
while True:
    out = {}
    threads = [threading.Thread(target=lambda k, u, p: out.__setitem__(k, lsn(u, p)), args=a)
               for a in (("p", sys.argv[1], "/healthz/primary"), ("s", sys.argv[2], "/healthz/standby"))]
    try:
        for t in threads: t.start()
        for t in threads: t.join()
        print(max(0, out["p"] - out["s"]), flush=True)
    except Exception:
        pass
    time.sleep(0.1)
PY
                sampler=$!
            fi
            BOOK_TOKENS=$tokens BOOK_BASE=$first BOOK_SEATS=2000 WRK_THREADS=2 \
                wrk_measure "book-$mode" -s Benchmarks/wrk/book.lua "$base/reservations"
            if [ "$mode" != single ]; then
                kill $sampler
                sort -n "$reports/lag-$run-$mode.txt" | awk -v r="$run" -v m="$mode" '{ v[NR] = $1 } END {
                    printf "run %s %s: the standby behind the primary by %d records at the median, %d at the 99th percentile, %d at most (%d samples)\n",
                        r, m, v[int(NR / 2) + 1], v[int(NR * 0.99) + 1], v[NR], NR }'
            fi
            if [ "$mode" != single ]; then
                primary_lsn=$(curl -s "$base/healthz/primary" | json_field durable_lsn)
                for _ in $(seq 1 100); do
                    standby_lsn=$(curl -s "127.0.0.1:$standby_port/healthz/standby" | json_field durable_lsn)
                    [ "$standby_lsn" -ge "$primary_lsn" ] && break
                    sleep 0.1
                done
                echo "run $run $mode: the standby at LSN $standby_lsn of the primary's $primary_lsn"
                [ "$standby_lsn" -ge "$primary_lsn" ] || { echo "the standby did not catch up" >&2; exit 1; }
            fi
        )
    done
    awk -v r="$run" '$1 == r' "$results"
done
python3 Benchmarks/summary.py "$results" \
    "book-single|bookings, a single node|" \
    "book-async|bookings, async + 1 standby|book-single" \
    "book-sync|bookings, sync + 1 standby|book-single"
echo "results: $results"
