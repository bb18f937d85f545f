#!/usr/bin/env bash
# The issue-15 figures in one go: for each run a new release server (fsync always, the load-test
# configuration) on a free loopback port, then wrk -t2 against
#   1. GET /healthz                                   (the ceiling),
#   2. GET /seats for one area of 100 seats with a one-hour window (Benchmarks/wrk/search.lua),
#      before any booking: every answer has the 100 seats (21 KB), checked and printed,
#   3. POST /reservations, every request a distinct free slot (Benchmarks/wrk/book.lua),
# then, on a second server with the default data (the 50 seed seats, no load-test seats),
#   4. GET /healthz again (that server's ceiling) and
#   5. GET /seats for all 50 seed seats with a one-hour window (every answer 50 seats, checked),
# each printed as requests/s, its ratio of the ceiling, p50 and p99; after all runs, the median and
# the range of each. Non-201 bookings and non-200 searches are counted and must be 0.
# Usage: bash Benchmarks/ratios.sh [runs, default 3] [seconds per measurement, default 15] [connections, default 64]
# DLSMS_BIN=path/to/dlsms measures another build (default .build/release/dlsms).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
bin=${DLSMS_BIN:-.build/release/dlsms}
source scripts/test-server.sh
bench_setup "${2:-15}" "${3:-64}"
results="$reports/ratios.tsv"
: >"$results"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${duration} s per measurement, $connections connections, wrk -t2; server and wrk share the cores"
for run in $(seq 1 "$runs"); do
    (
        start_server "$bin" --fsync always --bcrypt-cost 4 --admin-password bench-admin --grpc false \
            --load-test-seats 2000 --max-upcoming 100000000 --booking-attempts-per-second 0 --registrations-per-hour 100000000 --hashes-per-client 100000
        bench_students 16 "bench$run"
        # The first slot: a whole hour from now, on a quarter hour.
        first=$(( ($(date +%s) / 900 + 4) * 900 ))
        day=$(date -u -d "@$(( first + 86400 ))" +%Y-%m-%dT%H:00:00Z)
        day_end=$(date -u -d "@$(( first + 86400 + 3600 ))" +%Y-%m-%dT%H:00:00Z)
        wrk_measure healthz "$base/healthz"
        # The search first, on seats no booking has touched: every answer is the area's 100 seats
        # (checked: a run whose answers differ is refused).
        SEARCH_TOKEN=$(head -1 "$tokens") WRK_EXPECT_SEATS=100 \
            SEARCH_PATH="/seats?branch=Load%20Test%20Library&area=Load%20Test%20Area%207&start_time=$day&end_time=$day_end" \
            wrk_measure search -s Benchmarks/wrk/search.lua "$base/seats"
        BOOK_TOKENS=$tokens BOOK_BASE=$first BOOK_SEATS=2000 WRK_THREADS=2 \
            wrk_measure book -s Benchmarks/wrk/book.lua "$base/reservations"
    )
    (
        # The seed seats alone: a server with the default data, measured against its own ceiling.
        start_server "$bin" --fsync always --bcrypt-cost 4 --admin-password bench-admin --grpc false \
            --registrations-per-hour 100000000 --hashes-per-client 100000
        token=$(curl -s -X POST "$base/auth/register" -H 'Content-Type: application/json' \
            -d "{\"student_id\":\"seed$run\",\"password\":\"bench-password-1\"}" \
            | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
        first=$(( ($(date +%s) / 900 + 4) * 900 ))
        day=$(date -u -d "@$(( first + 86400 ))" +%Y-%m-%dT%H:00:00Z)
        day_end=$(date -u -d "@$(( first + 86400 + 3600 ))" +%Y-%m-%dT%H:00:00Z)
        wrk_measure healthz-seed "$base/healthz"
        SEARCH_TOKEN=$token WRK_EXPECT_SEATS=50 SEARCH_PATH="/seats?start_time=$day&end_time=$day_end" \
            wrk_measure search-seed -s Benchmarks/wrk/search.lua "$base/seats"
    )
    awk -v r="$run" '$1 == r' "$results"
done
python3 Benchmarks/summary.py "$results" \
    "healthz|GET /healthz req/s (the ceiling)|" \
    "book|POST /reservations, distinct slots|healthz" \
    "search|GET /seats, one 100-seat area|healthz" \
    "healthz-seed|GET /healthz, seed-data server|" \
    "search-seed|GET /seats, the 50 seed seats|healthz-seed"
echo "results: $results"
