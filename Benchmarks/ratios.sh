#!/usr/bin/env bash
# The issue-15 figures in one go: for each run a new release server (fsync always, the load-test
# configuration) on a free loopback port, then wrk -t2 against
#   1. GET /healthz                                   (the ceiling),
#   2. POST /reservations, every request a distinct free slot (Benchmarks/wrk/book.lua),
#   3. GET /seats for one area of 100 seats with a one-hour window (Benchmarks/wrk/search.lua),
# then, on a second server with the default data (the 50 seed seats, no load-test seats),
#   4. GET /healthz again (that server's ceiling) and
#   5. GET /seats for all 50 seed seats with a one-hour window,
# each printed as requests/s, its ratio of the ceiling, p50 and p99; after all runs, the median and
# the range of each. Non-201 bookings and non-200 searches are counted and must be 0.
# Usage: bash Benchmarks/ratios.sh [runs, default 3] [seconds per measurement, default 15] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
source scripts/test-server.sh
bench_setup "${2:-15}" "${3:-64}"
results="$reports/ratios.tsv"
: >"$results"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${duration} s per measurement, $connections connections, wrk -t2; server and wrk share the cores"
measure() {  # name, then wrk arguments
    local name=$1
    shift
    local out="$reports/wrk-$run-$name.txt"
    wrk -t2 -c"$connections" -d"${duration}s" --latency "$@" >"$out"
    python3 - "$name" "$run" "$out" >>"$results" <<'PY'
import re, sys
name, run = sys.argv[1], sys.argv[2]
text = open(sys.argv[3]).read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
errors = sum(int(x) for x in re.findall(r"other (\d+)", text)) + sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
print(f"{run}\t{name}\t{rps:.0f}\t{p50:.2f}\t{p99:.2f}\t{errors}")
PY
}
for run in $(seq 1 "$runs"); do
    (
        start_server .build/release/dlsms --fsync always --bcrypt-cost 4 --admin-password bench-admin --grpc false \
            --load-test-seats 2000 --max-upcoming 100000000 --registrations-per-hour 100000000 --hashes-per-client 100000
        tokens=$(mktemp)
        cleanup="$tokens"
        for i in $(seq 1 16); do
            curl -s -X POST "$base/auth/register" -H 'Content-Type: application/json' \
                -d "{\"student_id\":\"bench$run$i\",\"password\":\"bench-password-$i\"}" \
                | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])' >>"$tokens"
        done
        # The first slot: a whole hour from now, on a quarter hour.
        first=$(( ($(date +%s) / 900 + 4) * 900 ))
        day=$(date -u -d "@$(( first + 86400 ))" +%Y-%m-%dT%H:00:00Z)
        day_end=$(date -u -d "@$(( first + 86400 + 3600 ))" +%Y-%m-%dT%H:00:00Z)
        measure healthz "$base/healthz"
        BOOK_TOKENS=$tokens BOOK_BASE=$first BOOK_SEATS=2000 WRK_THREADS=2 \
            measure book -s Benchmarks/wrk/book.lua "$base/reservations"
        SEARCH_TOKEN=$(head -1 "$tokens") \
            SEARCH_PATH="/seats?branch=Load%20Test%20Library&area=Load%20Test%20Area%207&start_time=$day&end_time=$day_end" \
            measure search -s Benchmarks/wrk/search.lua "$base/seats"
    )
    (
        # The seed seats alone: a server with the default data, measured against its own ceiling.
        start_server .build/release/dlsms --fsync always --bcrypt-cost 4 --admin-password bench-admin --grpc false \
            --registrations-per-hour 100000000 --hashes-per-client 100000
        token=$(curl -s -X POST "$base/auth/register" -H 'Content-Type: application/json' \
            -d "{\"student_id\":\"seed$run\",\"password\":\"bench-password-1\"}" \
            | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
        first=$(( ($(date +%s) / 900 + 4) * 900 ))
        day=$(date -u -d "@$(( first + 86400 ))" +%Y-%m-%dT%H:00:00Z)
        day_end=$(date -u -d "@$(( first + 86400 + 3600 ))" +%Y-%m-%dT%H:00:00Z)
        measure healthz-seed "$base/healthz"
        SEARCH_TOKEN=$token SEARCH_PATH="/seats?start_time=$day&end_time=$day_end" \
            measure search-seed -s Benchmarks/wrk/search.lua "$base/seats"
    )
    awk -v r="$run" '$1 == r' "$results"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().split("\n") if line]
runs = sorted({r[0] for r in rows})
by = {(r[0], r[1]): r for r in rows}
def stat(values):
    return f"{statistics.median(values):,.2f} ({min(values):,.2f}–{max(values):,.2f})"
print(f"\n{'figure':<34} median (range) over {len(runs)} runs")
figures = [
    ("healthz", "GET /healthz req/s (the ceiling)", None),
    ("book", "POST /reservations, distinct slots", "healthz"),
    ("search", "GET /seats, one 100-seat area", "healthz"),
    ("healthz-seed", "GET /healthz, seed-data server", None),
    ("search-seed", "GET /seats, the 50 seed seats", "healthz-seed"),
]
for name, label, ceiling in figures:
    rps = [float(by[(r, name)][2]) for r in runs]
    print(f"{label:<34} {stat(rps)} req/s")
    if ceiling:
        ratios = [float(by[(r, name)][2]) / float(by[(r, ceiling)][2]) for r in runs]
        print(f"{'':<34} ratio {stat(ratios)}")
    print(f"{'':<34} p50 {stat([float(by[(r, name)][3]) for r in runs])} ms, p99 {stat([float(by[(r, name)][4]) for r in runs])} ms")
    errors = sum(int(by[(r, name)][5]) for r in runs)
    print(f"{'':<34} answers other than 2xx: {errors}")
PY
echo "results: $results"
