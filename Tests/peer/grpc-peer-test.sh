#!/usr/bin/env bash
# Peer test: the original DL-SMS gRPC client (../shared/seed/original/grpc/client_test.py),
# unchanged, against `dlsms serve` on its defaults (demo data) in the compatibility mode
# (--grpc-trust-user-id) on a free loopback port with a new data directory. Needs Python's grpcio
# and grpcio-tools (stubs are generated from proto/library.proto into a temporary directory).
#   Tests/peer/grpc-peer-test.sh [BINARY]     (default .build/debug/dlsms)
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-.build/debug/dlsms}
client=${DLSMS_ORIGINAL_CLIENT:-}
if [ -z "$client" ]; then  # beside the clone, as CI has it (../shared), or the workplace's copy
    for candidate in ../shared/seed/original/grpc/client_test.py /work/shared/seed/original/grpc/client_test.py; do
        [ -f "$candidate" ] && { client=$candidate; break; }
    done
fi
if [ -z "$client" ] || [ ! -f "$client" ]; then
    if [ "${CI:-}" = "true" ]; then echo "the original client is missing: $client" >&2; exit 1; fi
    echo "skipped: the original client is not at ../shared/seed/original/grpc/client_test.py (set DLSMS_ORIGINAL_CLIENT)"
    exit 0
fi
stubs=$(mktemp -d)
cleanup="$stubs"
python3 -m grpc_tools.protoc -I proto --python_out="$stubs" --grpc_python_out="$stubs" library.proto

source scripts/test-server.sh
# A default start: the demo data (seed.sql's seats, users and sample reservations: S2021001 holds
# seat 1 for the window the client waits for in its step 10), the compatibility switch on (and a
# low bcrypt cost, an admin password: neither changes what the client sees).
start_server "$binary" --grpc-trust-user-id true --bcrypt-cost 4 --admin-password peer-test-admin
[ -n "$grpc_port" ] || { cat "$server_log" >&2; echo "gRPC did not start" >&2; exit 1; }
python3 Tests/peer/grpc_original_client.py "$client" "$stubs" "127.0.0.1:$grpc_port"
