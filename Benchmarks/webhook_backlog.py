#!/usr/bin/env python3
"""One dead webhook endpoint under a booking load (issue 28, item 3), measured from outside.

Starts `BINARY serve` (release build, the load-test configuration, --fsync always) on a free
loopback port with a new data directory, registers an endpoint at a loopback port nobody listens
at (subscribed to every event), runs `BINARY loadtest --scenario book` for SECONDS, then reads
the endpoint's queue (GET /admin/webhooks), the server's RSS (/proc/PID/status), and the data
directory's size; kills it with SIGKILL and restarts it (the time to "listening", and the
recovery's own figure from the log), reads the same again; stops it with SIGTERM (final
snapshot) and restarts it once more. Every acknowledged booking made exactly one event.

Usage: python3 Benchmarks/webhook_backlog.py [BINARY, default .build/release/dlsms] [SECONDS, default 40]
       [more `serve` options, e.g. --webhook-queue-events 1000000 --webhook-queue-mb 1024]
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/dlsms")
seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 40
work = tempfile.mkdtemp(prefix="webhook-backlog-")
data = os.path.join(work, "data")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port  # nobody listens here once closed


port, dead = free_port(), free_port()
base = f"http://127.0.0.1:{port}"
serve = [binary, "serve", "--port", str(port), "--grpc", "false", "--data-dir", data, "--fsync", "always",
         "--bcrypt-cost", "4", "--admin-password", "bench-admin", "--load-test-seats", "2000",
         "--max-upcoming", "100000000", "--registrations-per-hour", "100000000", "--hashes-per-client", "100000",
         "--webhook-hosts", "127.0.0.1", "--log-level", "info"] + sys.argv[3:]


def start():
    log = open(os.path.join(work, "server.log"), "a")
    began = time.monotonic()
    p = subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=log, text=True)
    for line in p.stdout:
        if line.startswith("dlsms listening on "):
            return p, time.monotonic() - began
    raise SystemExit("the server did not start: see " + log.name)


def call(method, path, token=None, body=None):
    r = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                               headers={"Content-Type": "application/json"})
    if token:
        r.add_header("Authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(r, timeout=60))


def rss_mb(p):
    for line in open(f"/proc/{p.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0


def du_mb():
    total = 0
    for root, _, files in os.walk(data):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total / 1e6


def breakdown():
    """The data directory by kind of file, MB."""
    parts = {"wal": 0, "snapshots": 0, "outbox": 0, "other": 0}
    for root, _, files in os.walk(data):
        for f in files:
            size = os.path.getsize(os.path.join(root, f))
            kind = ("outbox" if "/outbox" in root else "wal" if f.startswith("wal-")
                    else "snapshots" if f.endswith(".dlsnap") else "other")
            parts[kind] += size
    return ", ".join(f"{k} {v / 1e6:.1f}" for k, v in parts.items())


def recovery_seconds():
    lines = [l for l in open(os.path.join(work, "server.log")) if "data directory opened" in l]
    m = re.search(r"(?<!_)seconds=([\d.e-]+)", lines[-1]) if lines else None
    return float(m.group(1)) if m else float("nan")


def queue_bytes_read():
    """What the last start read of the webhook queues (this branch's log line; absent before)."""
    lines = [l for l in open(os.path.join(work, "server.log")) if "data directory opened" in l]
    m = re.search(r"webhook_queue_bytes_read=(\d+)", lines[-1]) if lines else None
    return f", read {int(m.group(1)) / 1e6:.2f} MB of the queue" if m else ""


def queue(token):
    answer = call("GET", "/admin/webhooks", token)
    hook = answer["webhooks"][0]
    return {"pending": hook["pending"], "dropped": answer["dropped_events"],
            "pending_bytes": hook.get("pending_bytes"), "dropped_here": hook.get("dropped")}


def row(label, p, q, restart=None):
    print(f"{label:<32} pending {q['pending']:>7}  dropped {q['dropped']:>7}  RSS {rss_mb(p):6.1f} MB  "
          f"data {du_mb():6.1f} MB" + (f"  restart {restart[0]:.2f} s (recovery {restart[1]:.2f} s{queue_bytes_read()})" if restart else ""))
    print(f"{'':<32} data directory, MB: {breakdown()}")


try:
    print(f"binary: {binary} {' '.join(sys.argv[3:])}")
    print(f"machine: {os.cpu_count()} cores, "
          + open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip())
    server, _ = start()
    admin = call("POST", "/auth/login", body={"student_id": "admin", "password": "bench-admin"})["token"]
    call("POST", "/admin/webhooks", admin, {"url": f"http://127.0.0.1:{dead}/hook"})
    print(f"{'started, a dead endpoint registered':<32} RSS {rss_mb(server):6.1f} MB  data {du_mb():6.1f} MB")
    report = os.path.join(work, "book.json")
    subprocess.run([binary, "loadtest", "--url", base, "--scenario", "book", "--duration", str(seconds),
                    "--connections", "32", "--students", "1000", "--seed", "1", "--admin-password", "bench-admin",
                    "--no-check", "--report", report], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    results = json.load(open(report))["results"]
    made = results["status_counts"].get("201", 0)
    unknown = results.get("unknown", 0)
    print(f"load: {seconds} s of `loadtest --scenario book`, {made} bookings acknowledged = {made} events made"
          + (f" ({unknown} answers unknown)" if unknown else ""))
    time.sleep(2)
    row("after the load", server, queue(admin))
    server.send_signal(signal.SIGKILL)
    server.wait()
    server, took = start()
    admin = call("POST", "/auth/login", body={"student_id": "admin", "password": "bench-admin"})["token"]
    row("after kill -9 and a restart", server, queue(admin), (took, recovery_seconds()))
    server.send_signal(signal.SIGTERM)
    server.wait()
    server, took = start()
    admin = call("POST", "/auth/login", body={"student_id": "admin", "password": "bench-admin"})["token"]
    row("after SIGTERM and a restart", server, queue(admin), (took, recovery_seconds()))
    server.send_signal(signal.SIGTERM)
    server.wait()
finally:
    shutil.rmtree(work, ignore_errors=True)
