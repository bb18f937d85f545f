#!/usr/bin/env bash
# Issue 32's figures: what the email outbox costs a booking, and how fast it empties into a real
# SMTP server (Tests/mail/smtp_server.py: aiosmtpd on loopback, STARTTLS and AUTH).
# For each run, two release servers (fsync always, the load-test configuration), each with 32
# students (so that no student's share of the outbox, at most 10,000, fills), measured with wrk -t2 booking distinct slots (Benchmarks/wrk/book.lua):
#   1. book-off:  email off (no transport);
#   2. book-mail: email on, every student with a confirmed address, so each booking also queues
#      its confirmation (a second journal record in the same step) while the sender drains the
#      outbox to the relay at the same time.
# Then, on the second server, the sender's rate on the backlog wrk left: messages delivered in the
# next 30 s (or until the outbox is empty), counted by /admin/mail and by the relay's files.
# Non-201 bookings are counted and must be 0; a run whose relay got fewer messages than it was
# sent is refused.
# Usage: bash Benchmarks/mail.sh [runs, default 3] [seconds per measurement, default 15] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
bin=${DLSMS_BIN:-.build/release/dlsms}
source scripts/test-server.sh
bench_setup "${2:-15}" "${3:-64}"
results="$reports/mail.tsv"
: >"$results"
python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install -q --root-user-action=ignore "aiosmtpd==1.4.6"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${duration} s per measurement, $connections connections, wrk -t2; server, relay and wrk share the cores"
common=(--fsync always --bcrypt-cost 4 --admin-password bench-admin --grpc false --load-test-seats 2000
    --max-upcoming 100000000 --booking-attempts-per-second 0 --registrations-per-hour 100000000
    --hashes-per-client 100000)
for run in $(seq 1 "$runs"); do
    (
        start_server "$bin" "${common[@]}"
        bench_students 32 "off$run"
        first=$(( ($(date +%s) / 900 + 4) * 900 ))
        BOOK_TOKENS=$tokens BOOK_BASE=$first BOOK_SEATS=2000 WRK_THREADS=2 \
            wrk_measure book-off -s Benchmarks/wrk/book.lua "$base/reservations"
    )
    (
        relay=$(mktemp -d)
        cleanup="$relay"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$relay/key.pem" -out "$relay/cert.pem" -days 2 \
            -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
        python3 Tests/mail/smtp_server.py --maildir "$relay/mail" --cert "$relay/cert.pem" --key "$relay/key.pem" \
            >"$relay/out" 2>"$relay/err" &
        relay_pid=$!
        trap 'kill $relay_pid 2>/dev/null || true' RETURN
        for _ in $(seq 1 100); do grep -q port "$relay/out" && break; sleep 0.1; done
        relay_port=$(awk '{print $2}' "$relay/out")
        start_server "$bin" "${common[@]}" --smtp-host 127.0.0.1 --smtp-port "$relay_port" --smtp-user dlsms \
            --smtp-password s3cret --smtp-ca-file "$relay/cert.pem" --mail-from library@example.edu \
            --mail-queue 1000000 --mail-queue-per-student 10000
        trap 'kill $relay_pid 2>/dev/null || true; kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$server_data" "$server_log" "$relay"' EXIT
        bench_students 32 "mail$run"
        python3 Benchmarks/mail_setup.py "$base" "$tokens" "$relay/mail"
        admin=$(login admin bench-admin)
        first=$(( ($(date +%s) / 900 + 4) * 900 ))
        BOOK_TOKENS=$tokens BOOK_BASE=$first BOOK_SEATS=2000 WRK_THREADS=2 \
            wrk_measure book-mail -s Benchmarks/wrk/book.lua "$base/reservations"
        python3 - "$base" "$admin" "$relay/mail" "$run" >>"$results" <<'PY'
import json, os, sys, time, urllib.request as u
base, admin, maildir, run = sys.argv[1:5]
def status():
    r = u.urlopen(u.Request(base + "/admin/mail", headers={"Authorization": "Bearer " + admin}))
    return json.load(r)
def files():
    return len([f for f in os.listdir(maildir) if f.endswith(".eml")])
f0 = files()
s0, t0 = status(), time.time()
# The sender's rate while it has a backlog: 30 s, or until the outbox is empty.
while True:
    s = status()
    if s["pending"] == 0 or time.time() - t0 >= 30:
        break
    time.sleep(0.2)
t1 = time.time()
# The relay's files, listed again a second later (a listing made while files are renamed into the
# directory can miss some; later ones only add).
time.sleep(1)
f1 = files()
sent = s["delivered"] - s0["delivered"]
if s["given_up"] or s["dropped"] or f1 - f0 < sent or sent < 100:
    sys.exit(f"refused: given up {s['given_up']}, dropped {s['dropped']}, relay got {f1 - f0} of {sent} (backlog {s0['pending']})")
rate = sent / (t1 - t0)
print(f"  drain: {sent} messages in {t1 - t0:.1f} s (backlog after wrk {s0['pending']}, left {s['pending']}); the relay got {f1 - f0}", file=sys.stderr)
print(f"{run}\tdrain\t{rate:.0f}\t0\t0\t0")
PY
    )
    awk -v r="$run" '$1 == r' "$results"
done
python3 Benchmarks/summary.py "$results" \
    "book-off|POST /reservations, email off|" \
    "book-mail|POST /reservations, email on|book-off" \
    "drain|outbox → aiosmtpd, messages/s|"
echo "results: $results"
