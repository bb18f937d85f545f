#!/usr/bin/env bash
# Consortium scale (issue 28), from one command: a release server on free loopback ports.
#   1. The catalog CSV import into an empty server: 10,000, 20,000, 40,000 and 100,000 rows, each
#      timed (seconds, ms per row; every row must come back as a created seat).
#   2. A data directory with 100 branches, 100,000 seats, 1,000,000 students and 10,000,000
#      reservations (`dlsms snapshot synthesize`: 2 per student in memory, the rest archived).
#   3. A server on it: start-up (recovery) time, RSS after start; the size of the answers of
#      every list (each must be ≤ 1 MB); GET /seats for one area (100 seats) and a whole branch
#      (1,000 seats), p50/p99; GET /healthz and POST /reservations (distinct free slots): the
#      booking ratio, compared with the same measurement on the small default data set; a student's
#      GET /reservations/mine p99 while whole-branch searches run; RSS at the end; the final
#      snapshot on SIGTERM (time to exit, snapshot size).
# Every wrk run counts answers other than 2xx, and the search runs check that every 200 had the
# seats the figure names: a run that measured refusals or empty answers is refused.
# Usage: bash Benchmarks/scale.sh [seconds per measurement, default 15] [connections, default 64]
#   SCALE=small: 10 branches, 10,000 seats, 100,000 students, 1,000,000 reservations (quick check)
#   DLSMS_BIN=path/to/dlsms measures another build (default: .build/release/dlsms, built here).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DLSMS_BIN:-.build/release/dlsms}
source scripts/test-server.sh
bench_setup "${1:-15}" "${2:-64}"
results="$reports/scale.tsv"
: >"$results"
run=1
if [ "${SCALE:-}" = small ]; then
    branches=10 seats=10000 students=100000 reservations=1000000
else
    branches=100 seats=100000 students=1000000 reservations=10000000
fi
big=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$big" "$work"' EXIT
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${duration} s per measurement, $connections connections, wrk -t2; server and wrk share the cores"
rss() { awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$1/status"; }
hwm() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$1/status"; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }
token_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }

echo "== 1. catalog import into an empty server"
for rows in 10000 20000 40000 100000; do
    (
        start_server "$bin" --demo-data false --admin-password bench-admin --grpc false --bcrypt-cost 4
        csv="$work/catalog-$rows.csv"
        python3 - "$rows" >"$csv" <<'PY'
import sys
rows = int(sys.argv[1])
print("branch,area,seat_label,has_power,has_monitor,accessible,x,y", end="\r\n")
for i in range(rows):
    print(f"Import Branch {i // 1000 + 1:03d},Area {i // 100 % 10 + 1:02d},I-{i + 1},{str(i % 2 == 0).lower()},false,false,,", end="\r\n")
PY
        admin=$(login admin bench-admin)
        t0=$(now)
        status=$(curl -s -o "$work/import.json" -w '%{http_code}' -X POST --data-binary @"$csv" \
            -H 'Content-Type: text/csv' -H "Authorization: Bearer $admin" "$base/admin/catalog.csv")
        seconds=$(since "$t0")
        created=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("seats_created", -1))' "$work/import.json" 2>/dev/null || echo -1)
        [ "$status" = 200 ] && [ "$created" = "$rows" ] \
            || { echo "import of $rows rows refused: HTTP $status $(head -c 300 "$work/import.json")" >&2; exit 1; }
        echo "import $rows rows: $seconds s ($(python3 -c "print(f'{$seconds * 1000 / $rows:.3f}')") ms per row), $created seats created, server RSS $(rss "$server") (peak $(hwm "$server"))"
    )
done

echo "== 2. the data directory: $branches branches, $seats seats, $students students, $reservations reservations"
t0=$(now)
"$bin" snapshot synthesize --data-dir "$big" --branches "$branches" --seats "$seats" --students "$students" \
    --reservations "$reservations" --admin-password bench-admin --student-password bench-password
echo "synthesized in $(since "$t0") s; data directory $(du -sh "$big" | cut -f1)"

echo "== 3. a server on it"
log="$work/server.log"
t0=$(now)
${SERVER_CPUS:+taskset -c "$SERVER_CPUS"} "$bin" serve --port 0 --grpc false --data-dir "$big" --fsync always \
    --bcrypt-cost 4 --max-upcoming 100000000 --booking-attempts-per-second 0 --registrations-per-hour 100000000 --hashes-per-client 100000 \
    --log-level warning >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$big" "$work"' EXIT
port=""
for _ in $(seq 1 1200); do
    port=$(sed -n 's/^dlsms listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$log")
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.05
done
[ -n "$port" ] || { cat "$log"; echo "the server did not start" >&2; exit 1; }
base="http://127.0.0.1:$port"
echo "start-up (recovery until listening): $(since "$t0") s; RSS after start $(rss "$server")"
curl -s "$base/healthz"
echo
admin=$(login admin bench-admin)
student=$(login S0000001 bench-password)

# Every list's default answer, and its largest page: bytes (≤ 1 MB each) and items.
day=$(date -u -d "@$(( ($(date +%s) / 86400 + 5) * 86400 + 36000 ))" +%Y-%m-%dT%H:%M:%SZ)
day_end=$(date -u -d "@$(( ($(date +%s) / 86400 + 5) * 86400 + 39600 ))" +%Y-%m-%dT%H:%M:%SZ)
for spec in "student|/seats" "student|/seats?available_only=false&limit=1000" \
    "student|/seats?branch=Branch%20001&start_time=$day&end_time=$day_end" "student|/branches" \
    "student|/reservations/mine" "student|/waitlist/mine" "student|/notifications" \
    "admin|/reservations" "admin|/reservations?limit=10000" "admin|/admin/users" "admin|/admin/users?limit=10000" \
    "admin|/admin/webhooks" "admin|/branches/Branch%20001/closures"; do
    who=${spec%%|*}
    path=${spec#*|}
    [ "$who" = admin ] && tok=$admin || tok=$student
    status=$(curl -s -o "$work/answer" -w '%{http_code}' -H "Authorization: Bearer $tok" "$base$path")
    bytes=$(stat -c %s "$work/answer")
    items=$(python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(", ".join(f"{k} {len(v)}" for k,v in d.items() if isinstance(v,list)) + "".join(f", {k} {d[k]}" for k in ("count","total") if k in d))' "$work/answer")
    verdict=ok
    [ "$status" = 200 ] || verdict="REFUSED ($status)"
    [ "$bytes" -le 1048576 ] || verdict="OVER 1 MB"
    echo "answer $who GET $path: HTTP $status, $bytes bytes ($items) $verdict"
    [ "$verdict" = ok ] || { echo "an answer broke its bound" >&2; exit 1; }
done

# Two branches from the middle of the catalog (names as synthesize makes them).
one=$(printf 'Branch%%20%03d' $((branches * 42 / 100 + 1)))
other=$(printf 'Branch%%20%03d' $((branches * 17 / 100 + 1)))
wrk_measure healthz "$base/healthz"
SEARCH_TOKEN=$student WRK_EXPECT_SEATS=$((seats / branches / 10)) \
    SEARCH_PATH="/seats?branch=$one&area=Area%2007&start_time=$day&end_time=$day_end" \
    wrk_measure search-area -s Benchmarks/wrk/search.lua "$base/seats"
SEARCH_TOKEN=$student WRK_EXPECT_SEATS=$((seats / branches)) \
    SEARCH_PATH="/seats?branch=$one&start_time=$day&end_time=$day_end" \
    wrk_measure search-branch -s Benchmarks/wrk/search.lua "$base/seats"
SEARCH_TOKEN=$student WRK_EXPECT_SEATS=1000 SEARCH_PATH="/seats?start_time=$day&end_time=$day_end" \
    wrk_measure search-all -s Benchmarks/wrk/search.lua "$base/seats"

# A student's own reservations (their 2) while whole-branch searches run on the same server.
SEARCH_TOKEN=$student SEARCH_PATH="/seats?branch=$other&start_time=$day&end_time=$day_end" \
    ${WRK_CPUS:+taskset -c "$WRK_CPUS"} wrk -t1 -c"$connections" -d"$((duration + 2))s" \
    -s Benchmarks/wrk/search.lua "$base/seats" >"$work/background-search.txt" &
background=$!
sleep 1
connections_before=$connections
connections=4
SEARCH_TOKEN=$student WRK_EXPECT_SEATS=2 SEARCH_PATH="/reservations/mine" \
    wrk_measure mine-during-search -s Benchmarks/wrk/search.lua "$base/reservations/mine"
connections=$connections_before
wait $background
grep -E "Requests/sec|other|answers" "$work/background-search.txt" | sed 's/^/  background search: /'

# Bookings: distinct free slots from three days ahead (the synthesized upcoming bookings are two
# days ahead), on seats 1…2000.
bench_students 16 scale
first=$(( ($(date +%s) / 86400 + 3) * 86400 ))
BOOK_TOKENS=$tokens BOOK_BASE=$first BOOK_SEATS=2000 BOOK_FIRST_SEAT=1 WRK_THREADS=2 \
    wrk_measure book -s Benchmarks/wrk/book.lua "$base/reservations"
echo "RSS after the load: $(rss "$server") (peak $(hwm "$server"))"
t0=$(now)
kill -TERM "$server"
wait "$server" || true
newest=$(ls -1 "$big"/snapshot-*.dlsnap | tail -1)
echo "SIGTERM to exit (drain, final snapshot): $(since "$t0") s; final snapshot $(basename "$newest") $(stat -c %s "$newest") bytes"
trap 'rm -rf "$big" "$work"' EXIT

# The small data set, measured the same way: the booking ratio to compare with.
(
    start_server "$bin" --fsync always --bcrypt-cost 4 --admin-password bench-admin --grpc false \
        --load-test-seats 2000 --max-upcoming 100000000 --booking-attempts-per-second 0 --registrations-per-hour 100000000 --hashes-per-client 100000
    bench_students 16 small
    first=$(( ($(date +%s) / 86400 + 3) * 86400 ))
    wrk_measure healthz-small "$base/healthz"
    BOOK_TOKENS=$tokens BOOK_BASE=$first BOOK_SEATS=2000 WRK_THREADS=2 \
        wrk_measure book-small -s Benchmarks/wrk/book.lua "$base/reservations"
)
python3 Benchmarks/summary.py "$results" \
    "healthz|GET /healthz req/s (the ceiling), scale data|" \
    "search-area|GET /seats, one 100-seat area|healthz" \
    "search-branch|GET /seats, a whole branch|healthz" \
    "search-all|GET /seats, no branch (a page of 1000)|healthz" \
    "mine-during-search|GET /reservations/mine during searches (4 connections)|" \
    "book|POST /reservations, scale data|healthz" \
    "healthz-small|GET /healthz, small data|" \
    "book-small|POST /reservations, small data|healthz-small"
echo "results: $results"
