# Sourced by .ci/contract.sh, Tests/peer/grpc-peer-test.sh and Benchmarks/*.sh: runs a `dlsms serve` on a free loopback port
# with a temporary data directory, and stops it (and removes the directory) when the script exits.
#   start_server BINARY [serve options…]   sets $server (pid), $port, $base, $grpc_port (gRPC on a free port too)
#   login STUDENT_ID PASSWORD              prints a token
start_server() {
    local binary=$1
    shift
    server_data=$(mktemp -d)
    server_log=$(mktemp)
    # SERVER_CPUS (e.g. 0): the server runs on those CPUs only (taskset), for pinned measurements.
    ${SERVER_CPUS:+taskset -c "$SERVER_CPUS"} "$binary" serve --port 0 --grpc-port 0 --data-dir "$server_data" \
        --log-level warning "$@" >"$server_log" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$server_data" "$server_log" ${cleanup:-}' EXIT
    port=""
    grpc_port=""
    for _ in $(seq 1 300); do
        port=$(sed -n 's/^dlsms listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$server_log")
        grpc_port=$(sed -n 's/^dlsms grpc listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$server_log")
        [ -n "$port" ] && { [ -n "$grpc_port" ] || grep -q -- "--grpc false" <<<"$*"; } && break
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$server_log" >&2; echo "the server did not start" >&2; exit 1; }
    base="http://127.0.0.1:$port"
}

login() {
    python3 -c 'import json,sys,urllib.request as u
r=u.urlopen(u.Request(sys.argv[1]+"/auth/login",data=json.dumps({"student_id":sys.argv[2],"password":sys.argv[3]}).encode(),headers={"Content-Type":"application/json"}))
print(json.load(r)["token"])' "$base" "$1" "$2"
}

# Benchmarks: `bench_setup [seconds per run, default 15] [connections, default 64]` sets $duration,
# $connections and $reports (REPORTS, or a new temporary directory) and builds the release binary
# (unless DLSMS_BIN names one to measure).
bench_setup() {
    duration=${1:-15}
    connections=${2:-64}
    command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
    reports=${REPORTS:-$(mktemp -d)}
    mkdir -p "$reports"
    [ -n "${DLSMS_BIN:-}" ] && return
    swift build -c release --product dlsms >"$reports/build.log" 2>&1 || { cat "$reports/build.log"; exit 1; }
}

# `wrk_measure NAME [wrk arguments…]` (after bench_setup, in a loop setting $run, with $results a
# file): runs wrk -t2 for $duration s over $connections connections and appends a line
# "run name requests/s p50-ms p99-ms answers-other-than-2xx" to $results. Benchmarks/summary.py
# turns those lines into medians, ranges and ratios.
wrk_measure() {
    local name=$1
    shift
    local out="$reports/wrk-$run-$name.txt"
    ${WRK_CPUS:+taskset -c "$WRK_CPUS"} wrk -t2 -c"$connections" -d"${duration}s" --latency "$@" >"$out"
    python3 - "$name" "$run" "$out" >>"$results" <<'PY'
import os, re, sys
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
# A search figure counts only answers of the seats it names (WRK_EXPECT_SEATS): say what they were.
answers = re.search(r"answers seats (-?\d+)\.\.(-?\d+) bytes (-?\d+)\.\.(-?\d+)", text)
if answers:
    low, high, small, big = map(int, answers.groups())
    print(f"  {name}: every 200 answered {low}..{high} seats in {small}..{big} bytes; {errors} other answers", file=sys.stderr)
    expected = os.environ.get("WRK_EXPECT_SEATS")
    if expected and (low != int(expected) or high != int(expected) or errors):
        sys.exit(f"{name}: refused, the answers were not the {expected} seats the figure names")
PY
}

# `bench_students COUNT PREFIX` (after start_server): registers COUNT students on $base and
# writes their tokens, one a line, to a new file $tokens (removed with the server).
bench_students() {
    tokens=$(mktemp)
    cleanup="${cleanup:-} $tokens"
    for i in $(seq 1 "$1"); do
        curl -s -X POST "$base/auth/register" -H 'Content-Type: application/json' \
            -d "{\"student_id\":\"$2$i\",\"password\":\"bench-password-$i\"}" \
            | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])' >>"$tokens"
    done
}
