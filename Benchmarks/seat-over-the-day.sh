#!/usr/bin/env bash
# The seat-over-the-day figures: for each of extend, move and group, a new release server (fsync
# always, the load-test configuration) on a free loopback port, and `dlsms loadtest --scenario X`
# against it: every connection alternates at random between single bookings and X, one request at
# a time, so both are measured in the same run, on the same server, under the same load. Each run
# ends with the checker (wholeness of groups and moves included) and is refused when X or the
# single bookings were never acknowledged. Prints each run's summary: per operation its requests,
# errors and latency, and "X against single bookings in this run" (connections ÷ mean latency of
# each, and their ratio).
# Usage: bash Benchmarks/seat-over-the-day.sh [seconds per run, default 15] [connections, default 32]
# DLSMS_BIN=path/to/dlsms measures another build (default: builds and uses .build/release/dlsms).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15}
connections=${2:-32}
bin=${DLSMS_BIN:-.build/release/dlsms}
source scripts/test-server.sh
if [ -z "${DLSMS_BIN:-}" ]; then
    swift build -c release --product dlsms >/tmp/dlsms-release-build.log 2>&1 || { cat /tmp/dlsms-release-build.log; exit 1; }
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); server and load generator share the cores"
for scenario in extend move group; do
    (
        start_server "$bin" --fsync always --bcrypt-cost 4 --admin-password bench-admin --grpc false \
            --load-test-seats 2000 --max-upcoming 100000000 --booking-attempts-per-second 0 \
            --registrations-per-hour 100000000 --hashes-per-client 100000
        echo "== $scenario"
        "$bin" loadtest --url "$base" --scenario "$scenario" --duration "$duration" --connections "$connections" \
            --students 400 --admin-password bench-admin --seed 31
    )
done
