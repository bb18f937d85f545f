#!/usr/bin/env bash
# Reproduces the README's HTTP figures in one run on this machine: starts the release server
# (fsync always, the load-test configuration) on a free loopback port with a temporary data
# directory, measures the /healthz ceiling with wrk, then the `book`, `mixed` and `search`
# scenarios of `dlsms loadtest` (each ends with the consistency checker), and prints a table with
# each throughput as a ratio of the ceiling. The JSON reports (and charts, when matplotlib is
# installed) are left in $REPORTS (default: a new temporary directory).
# Usage: bash Benchmarks/http.sh [seconds per run, default 15] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-server.sh
bench_setup "$@"
start_server .build/release/dlsms --fsync always --bcrypt-cost 4 --admin-password bench-admin \
    --load-test-seats 2000 --max-upcoming 100000000 --booking-attempts-per-second 0 --registrations-per-hour 100000000 --hashes-per-client 100000

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${duration} s per run, $connections connections; server, wrk and loadtest share the cores"
ceiling=$(wrk -t2 -c"$connections" -d"${duration}s" "$base/healthz" | awk '/Requests\/sec/ {print $2}')
for scenario in mixed search book; do  # book last: its storm fills the seats
    .build/release/dlsms loadtest --url "$base" --scenario "$scenario" --duration "$duration" \
        --connections "$connections" --students 1000 --seed 1 --admin-password bench-admin \
        --report "$reports/$scenario.json" >"$reports/$scenario.txt" 2>/dev/null \
        || { cat "$reports/$scenario.txt"; echo "loadtest $scenario failed" >&2; exit 1; }
done
PYTHONPATH=Benchmarks python3 - "$ceiling" "$reports" <<'PY'
import loadtest_report, sys
ceiling, directory = float(sys.argv[1]), sys.argv[2]
print(f"{'run':<22} {'req/s':>8} {'2xx/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'ratio':>6} {'client CPU':>10}  check")
print(f"{'GET /healthz (wrk)':<22} {ceiling:>8.0f} {'':>8} {'':>7} {'':>7} {'':>8} {100:>5.0f}%")
for scenario in ["book", "mixed", "search"]:
    r, res, lat = loadtest_report.load(f"{directory}/{scenario}.json")
    verdict = loadtest_report.verdict(r)
    cpu = 100 * res["client_cpu_seconds"] / res["seconds"] / r["machine"]["cores"]
    print(f"{'loadtest ' + scenario:<22} {res['throughput_per_second']:>8.0f} {res['ok_per_second']:>8.0f} "
          f"{lat['p50']:>7.2f} {lat['p99']:>7.2f} {lat['p999']:>8.2f} {100 * res['throughput_per_second'] / ceiling:>5.0f}% "
          f"{cpu:>9.0f}%  {verdict}")
PY
if python3 -c "import matplotlib" 2>/dev/null; then
    python3 Benchmarks/plot_loadtest.py "$reports"/book.json "$reports"/mixed.json "$reports"/search.json \
        -o "$reports" --name http >/dev/null
fi
echo "reports: $reports"
