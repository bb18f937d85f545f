# Sourced by .ci/contract.sh, Tests/peer/grpc-peer-test.sh and Benchmarks/*.sh: runs a `dlsms serve` on a free loopback port
# with a temporary data directory, and stops it (and removes the directory) when the script exits.
#   start_server BINARY [serve options…]   sets $server (pid), $port, $base, $grpc_port (gRPC on a free port too)
#   login STUDENT_ID PASSWORD              prints a token
start_server() {
    local binary=$1
    shift
    server_data=$(mktemp -d)
    server_log=$(mktemp)
    "$binary" serve --port 0 --grpc-port 0 --data-dir "$server_data" --log-level warning "$@" >"$server_log" 2>&1 &
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
# $connections and $reports (REPORTS, or a new temporary directory) and builds the release binary.
bench_setup() {
    duration=${1:-15}
    connections=${2:-64}
    command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
    reports=${REPORTS:-$(mktemp -d)}
    mkdir -p "$reports"
    swift build -c release --product dlsms >"$reports/build.log" 2>&1 || { cat "$reports/build.log"; exit 1; }
}
