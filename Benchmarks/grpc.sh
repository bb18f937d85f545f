#!/usr/bin/env bash
# The README's gRPC figures in one run on this machine: the release server (fsync always, the
# load-test configuration) with REST and gRPC on free loopback ports; the /healthz ceiling with
# wrk, then REST booking and search and, through the gRPC door, CreateReservation and GetSeats,
# each with `dlsms loadtest` (same generator, same checker for the writes) against a new server
# with an empty data directory, so that no run books into seats an earlier one filled. Prints each
# throughput as a ratio of the ceiling, with p50/p99 and the server's CPU time per request.
# Usage: bash Benchmarks/grpc.sh [seconds per run, default 15] [connections/streams, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-server.sh
bench_setup "$@"
fresh_server() {
    if [ -n "${server:-}" ]; then kill "$server"; wait "$server" 2>/dev/null || true; rm -rf "$server_data" "$server_log"; fi
    start_server .build/release/dlsms --fsync always --bcrypt-cost 4 --admin-password bench-admin \
        --load-test-seats 2000 --max-upcoming 100000000 --booking-attempts-per-second 0 --registrations-per-hour 100000000 --hashes-per-client 100000
}
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }  # user + system clock ticks
fresh_server

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${duration} s per run, $connections connections or streams; server, wrk and loadtest share the cores"
ceiling=$(wrk -t2 -c"$connections" -d"${duration}s" "$base/healthz" | awk '/Requests\/sec/ {print $2}')
run() {  # name scenario [loadtest options…]
    local name=$1 scenario=$2
    shift 2
    fresh_server
    local port_option=()
    [ "${1:-}" = "--grpc" ] && { port_option=(--grpc "127.0.0.1:$grpc_port"); shift; }
    local before
    before=$(cpu)
    .build/release/dlsms loadtest --url "$base" --scenario "$scenario" --duration "$duration" \
        --connections "$connections" --students 1000 --seed 1 --admin-password bench-admin \
        --report "$reports/$name.json" "${port_option[@]}" "$@" >"$reports/$name.txt" 2>/dev/null \
        || { cat "$reports/$name.txt"; echo "loadtest $name failed" >&2; exit 1; }
    echo $(($(cpu) - before)) >"$reports/$name.cpu"  # includes the students' preparation
}
run rest-book book
run grpc-book book --grpc
run rest-search search
run grpc-search search --grpc
PYTHONPATH=Benchmarks python3 - "$ceiling" "$reports" <<'PY'
import loadtest_report, sys
ceiling, directory = float(sys.argv[1]), sys.argv[2]
import os
tick = os.sysconf("SC_CLK_TCK")
print(f"{'run':<34} {'req/s':>8} {'2xx/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} {'server µs/req':>13} {'client µs/req':>13}  check")
print(f"{'REST GET /healthz (wrk)':<34} {ceiling:>8.0f} {'':>8} {'':>7} {'':>7} {100:>5.0f}%")
names = {"rest-book": "REST POST /reservations", "grpc-book": "gRPC CreateReservation",
         "rest-search": "REST GET /seats (100-seat area)", "grpc-search": "gRPC GetSeats (100-seat area)"}
for name, label in names.items():
    r, res, lat = loadtest_report.load(f"{directory}/{name}.json")
    verdict = loadtest_report.verdict(r)
    server_us = 1e6 * int(open(f"{directory}/{name}.cpu").read()) / tick / res["requests"]
    client_us = 1e6 * res["client_cpu_seconds"] / res["requests"]
    print(f"{label:<34} {res['throughput_per_second']:>8.0f} {res['ok_per_second']:>8.0f} "
          f"{lat['p50']:>7.2f} {lat['p99']:>7.2f} {100 * res['throughput_per_second'] / ceiling:>5.0f}% "
          f"{server_us:>13.0f} {client_us:>13.0f}  {verdict}")
PY
echo "reports: $reports"
