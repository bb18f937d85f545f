#!/usr/bin/env bash
# Reproduces the README's HTTP figures in one run on this machine: starts the release server
# (fsync always) on a free loopback port with a temporary data directory, measures the /healthz
# ceiling with wrk, then bookings and seat search, and prints each as a ratio of the ceiling.
# Usage: bash Benchmarks/http.sh [seconds per run, default 15] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15}
connections=${2:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
swift build -c release --product dlsms >/dev/null

source scripts/test-server.sh
start_server .build/release/dlsms --fsync always --bcrypt-cost 4 --admin-password bench-admin \
    --load-test-seats 5000 --max-upcoming 100000000
token=$(login S2021001 password123)
# 200 students for the booking run (bcrypt cost 4 keeps the preparation quick).
tokens=$(mktemp)
cleanup=$tokens
python3 - "$base" >"$tokens" <<'PY'
import json, sys, urllib.request as u
base = sys.argv[1]
for n in range(200):
    body = json.dumps({"student_id": f"LOAD{n:05d}", "password": "load-password"}).encode()
    try:
        r = u.urlopen(u.Request(base + "/auth/register", data=body, headers={"Content-Type": "application/json"}))
    except Exception:
        r = u.urlopen(u.Request(base + "/auth/login", data=body, headers={"Content-Type": "application/json"}))
    print(json.load(r)["token"])
PY
quarter=$(( ($(date +%s) / 900 + 1) * 900 ))
window_start=$(date -u -d "@$((quarter + 86400))" +%Y-%m-%dT%H:%M:%SZ)
window_end=$(date -u -d "@$((quarter + 86400 + 7200))" +%Y-%m-%dT%H:%M:%SZ)

run() { # name, wrk arguments…
    local name=$1
    shift
    local out
    out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency "$@")
    local rps p50 p99
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    local errors
    errors=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    echo "$name|$rps|$p50|$p99|${errors:-0}"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk -t2 -c$connections -d${duration}s, server and wrk on the same cores"
results=()
results+=("$(run "GET /healthz" "$base/healthz")")
results+=("$(THREADS=2 SEATS=5000 BASE=$quarter TOKENS_FILE=$tokens run "POST /reservations (fsync always)" -s Benchmarks/http/book.lua "$base")")
results+=("$(run "GET /seats?branch=Main Library + window" -H "Authorization: Bearer $token" \
    "$base/seats?branch=Main%20Library&start_time=$window_start&end_time=$window_end")")
ceiling=$(echo "${results[0]}" | cut -d'|' -f2)
printf "%-42s %12s %10s %10s %10s %8s\n" "endpoint" "req/s" "p50" "p99" "non-2xx" "ratio"
for r in "${results[@]}"; do
    IFS='|' read -r name rps p50 p99 errors <<<"$r"
    printf "%-42s %12s %10s %10s %10s %7.0f%%\n" "$name" "$rps" "$p50" "$p99" "$errors" "$(echo "$rps $ceiling" | awk '{print 100*$1/$2}')"
done
