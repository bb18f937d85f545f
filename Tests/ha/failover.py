#!/usr/bin/env python3
"""Failover test of a replicated DL-SMS cluster (README "High availability").

Starts, on 127.0.0.1 only and on free ports: one etcd, three `dlsms serve` nodes (each under a
supervisor that restarts it when it exits with status 75, "restart me to rejoin as a standby"),
and HAProxy with deploy/haproxy.cfg in front of them. While `dlsms loadtest --scenario mixed`
drives the proxy, it kills the primary with SIGKILL (--kills times, restarting it about a second
later) and then stops one primary with SIGSTOP for lease + 3 s, and measures each failover: the
time from the kill (or stop) to the first write acknowledged (201) through the proxy. It checks:

  - every failover takes at most 5 s, and the epoch of the new primary strictly increases;
  - the stopped primary, once resumed, never acknowledges a write and never answers
    /healthz/primary with 200, exits with status 75 and comes back as a standby;
  - no node ever answers /healthz/primary 200 for an epoch older than one already seen;
  - sync: the load generator's checker passes (nothing acknowledged lost, no phantom, no overlap,
    no wrong state) and every acknowledged probe booking is there at the end;
    async: the lost count is printed, not failed on (overlaps, phantoms, wrong states still fail);
  - no node exits other than with status 75 or by the harness's own SIGKILL;
  - the three nodes converge on the same log position once the load is over.

Standard library only. Usage:

    python3 Tests/ha/failover.py --binary .build/debug/dlsms --mode sync [--duration 45]
        [--kills 2] [--report-dir DIR] [--restart-delay 1] [--keep]

With the default --restart-delay of 1 s the killed primary is often back before its lease has
lapsed and wins the election again; --restart-delay 5 makes every kill a standby promotion.

Exit status 0 when every check passed, 1 otherwise (2 for a usage error).
"""

import argparse
import collections
import datetime
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HOST = "127.0.0.1"
LEASE_SECONDS = 3
MAX_FAILOVER_SECONDS = 5.0
ADMIN_PASSWORD = "admin-password"
REJOIN_STATUS = 75
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HAPROXY_CFG = os.path.join(REPO, "deploy", "haproxy.cfg")

T0 = time.monotonic()


def now():
    return time.monotonic() - T0


_print_lock = threading.Lock()


def say(text):
    with _print_lock:
        print(f"[{now():7.2f}s] {text}", flush=True)


class HarnessFailure(Exception):
    """The cluster could not be brought into the state a step needs (not a checked property)."""


# ------------------------------------------------------------------------------------------------
# HTTP


def call(port, method, path, body=None, token=None, timeout=1.0):
    """One request on a new connection: (status, parsed body) or (None, "error kind: text")."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")[:300]
        return response.status, parsed
    except socket.timeout:
        return None, "timeout"
    except ConnectionRefusedError:
        return None, "refused"
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        return None, "reset"
    except (OSError, http.client.HTTPException) as error:
        return None, f"{type(error).__name__}: {error}"
    finally:
        conn.close()


def outcome(status, body):
    """A short name for an answer, for counting: "201", "503 not_primary" (the server's JSON error
    code), "503 haproxy" (HAProxy's own HTML error page), "reset"."""
    if status is None:
        return str(body)
    if isinstance(body, dict) and body.get("code"):
        return f"{status} {body['code']}"
    if isinstance(body, str) and "<html>" in body.lower():
        return f"{status} haproxy"
    return str(status)


def free_ports(count):
    """Free loopback ports (held open together so that they are distinct)."""
    sockets, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            port = s.getsockname()[1]
            sockets.append(s)
            # Ports the operator's manual cluster may use.
            if 18080 <= port <= 18090 or port in (23790, 23800):
                continue
            ports.append(port)
    finally:
        for s in sockets:
            s.close()
    return ports


def wait_until(what, predicate, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise HarnessFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def thread_states(pid):
    """The state letter of each thread of `pid` (empty once it is gone)."""
    states = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return states
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            pass
    return states


def wait_signalled(pid, stopped, timeout=3.0):
    """Waits until every thread of `pid` is stopped (SIGSTOP) or the process is gone (SIGKILL):
    a signal takes effect asynchronously, and a busy multi-threaded process on a loaded machine
    may go on answering for some milliseconds after kill(2) returned. Returns the seconds it took."""
    started = time.monotonic()

    def done():
        states = thread_states(pid)
        if stopped:
            return bool(states) and all(s in "Tt" for s in states)
        return all(s in "ZX" for s in states)

    wait_until(f"process {pid} to be {'stopped' if stopped else 'gone'}", done, timeout, 0.001)
    return time.monotonic() - started


def clean_env():
    """The environment without DL-SMS settings of the caller (flags win anyway; this is hygiene)."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("DLSMS_") or key in ("JWT_SECRET", "ADMIN_PASSWORD", "LOG_LEVEL"):
            del env[key]
    return env


# ------------------------------------------------------------------------------------------------
# Processes


class Node:
    """One dlsms node under a supervisor thread: restarted on exit status 75; after a SIGKILL by the
    harness, restarted when the harness says so; any other exit is recorded as a failure and the
    node stays down."""

    def __init__(self, cluster, index, port):
        self.cluster = cluster
        self.name = f"n{index}"
        self.port = port
        self.data_dir = os.path.join(cluster.tmp, self.name)
        self.log_path = os.path.join(cluster.tmp, f"{self.name}.log")
        os.makedirs(self.data_dir)
        self.args = [
            cluster.binary, "serve",
            "--port", str(port),
            "--data-dir", self.data_dir,
            "--grpc", "false",
            "--replication", cluster.mode,
            "--replication-secret", cluster.secret,
            "--etcd", f"http://{HOST}:{cluster.etcd_port}",
            "--etcd-prefix", cluster.etcd_prefix,
            "--node-name", self.name,
            "--admin-password", ADMIN_PASSWORD,
            "--load-test-seats", "1000",
            "--bcrypt-cost", "4",
            "--max-upcoming", "100000000", "--booking-attempts-per-second", "0",
            "--registrations-per-hour", "100000000",
            "--hashes-per-client", "100000",
            "--lease-seconds", str(LEASE_SECONDS),
            "--log-level", "info",
        ]
        self.lock = threading.Lock()
        self.proc = None
        self.starts = 0
        self.exits = []  # dicts: at, status, kind
        self.harness_kill_pending = False
        self.restart_event = threading.Event()
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self._supervise, name=f"supervisor-{self.name}", daemon=True)
        self.thread.start()

    def _spawn(self):
        with self.lock:
            self.starts += 1
            with open(self.log_path, "ab") as log:
                log.write(f"\n===== harness: start #{self.starts} of {self.name} at {now():.2f}s =====\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=clean_env(), start_new_session=True)
            return self.proc

    def _supervise(self):
        while not self.cluster.stopping.is_set():
            proc = self._spawn()
            status = proc.wait()
            at = now()
            with self.lock:
                by_harness = self.harness_kill_pending
                self.harness_kill_pending = False
            if self.cluster.stopping.is_set():
                self.exits.append({"at": round(at, 2), "status": status, "kind": "shutdown"})
                return
            if status == REJOIN_STATUS:
                self.exits.append({"at": round(at, 2), "status": status, "kind": "rejoin (75)"})
                say(f"{self.name} exited with status 75 (rejoin as standby); restarting it")
                time.sleep(0.2)
                continue
            if by_harness and status == -signal.SIGKILL:
                self.exits.append({"at": round(at, 2), "status": status, "kind": "killed by harness"})
                self.restart_event.wait()
                self.restart_event.clear()
                continue
            kind = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
            self.exits.append({"at": round(at, 2), "status": status, "kind": "UNEXPECTED " + kind})
            say(f"FAILURE: {self.name} exited unexpectedly ({kind}); not restarting it")
            self.cluster.failures.append(f"{self.name} exited unexpectedly at {at:.2f}s ({kind})")
            return

    @property
    def pid(self):
        with self.lock:
            return self.proc.pid if self.proc and self.proc.poll() is None else None

    def kill_by_harness(self):
        with self.lock:
            if not self.proc or self.proc.poll() is not None:
                raise HarnessFailure(f"{self.name} is not running, cannot kill it")
            self.harness_kill_pending = True
            self.proc.send_signal(signal.SIGKILL)

    def restart_after_kill(self):
        self.restart_event.set()

    def signal(self, sig):
        with self.lock:
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(sig)

    def terminate(self):
        with self.lock:
            proc = self.proc
        if proc and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGKILL)  # also ends a stopped process
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.restart_event.set()  # release a supervisor waiting for a restart

    def health(self, which, timeout=0.5):
        return call(self.port, "GET", f"/healthz/{which}", timeout=timeout)

    def tail(self, lines=25):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(text[-lines:])
        except OSError:
            return ""


class Monitor:
    """Polls every node's /healthz/primary every 100 ms: records role changes and every 200 with
    its epoch, to find a node that takes writes under an epoch older than one already seen."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.samples = []  # (node, sent, received, epoch) of each 200
        self.lock = threading.Lock()
        self.roles = {}
        self.threads = []

    def start(self):
        for node in self.cluster.nodes:
            t = threading.Thread(target=self._run, args=(node,), name=f"monitor-{node.name}", daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, node):
        while not self.cluster.stopping.is_set():
            sent = now()
            status, body = node.health("primary", timeout=0.5)
            received = now()
            if status == 200 and isinstance(body, dict):
                with self.lock:
                    self.samples.append((node.name, sent, received, body.get("epoch")))
            if status is None:
                role = "down"
            elif isinstance(body, dict):
                role = f"{body.get('role')} epoch {body.get('epoch')}" + (" (takes writes)" if status == 200 else "")
            else:
                role = f"HTTP {status}"
            if self.roles.get(node.name) != role:
                self.roles[node.name] = role
                self.cluster.timeline(f"{node.name}: {role}")
            time.sleep(0.1)

    def violations(self):
        with self.lock:
            samples = list(self.samples)
        found = []
        nodes_of_epoch = collections.defaultdict(set)
        first_seen = {}
        for name, sent, received, epoch in samples:
            if epoch is None:
                continue
            nodes_of_epoch[epoch].add(name)
            first_seen[epoch] = min(first_seen.get(epoch, received), received)
        for epoch, names in sorted(nodes_of_epoch.items()):
            if len(names) > 1:
                found.append(f"epoch {epoch} was claimed by more than one node: {sorted(names)}")
        for name, sent, received, epoch in samples:
            newer = [e for e, t in first_seen.items() if e is not None and epoch is not None and e > epoch and t < sent]
            if newer:
                found.append(
                    f"{name} answered /healthz/primary 200 with epoch {epoch} at {sent:.2f}s, after epoch "
                    f"{max(newer)} had taken over")
        return found[:10]


class Cluster:
    def __init__(self, args):
        self.binary = os.path.abspath(args.binary)
        self.mode = args.mode
        self.keep = args.keep
        self.secret = secrets.token_hex(16)
        self.etcd_prefix = "/dlsms-ha-" + secrets.token_hex(4)
        self.tmp = tempfile.mkdtemp(prefix=f"dlsms-ha-{self.mode}-")
        (self.etcd_port, self.etcd_peer_port, self.proxy_port, self.reads_port,
         p1, p2, p3) = free_ports(7)
        self.stopping = threading.Event()
        self.failures = []
        self.procs = []  # etcd, haproxy, loadtest
        self.nodes = [Node(self, i + 1, p) for i, p in enumerate((p1, p2, p3))]
        self.monitor = Monitor(self)
        self._timeline = open(os.path.join(self.tmp, "timeline.log"), "a")
        self._cleaned = False
        self._cleanup_lock = threading.Lock()

    def timeline(self, text):
        line = f"[{now():7.2f}s] {text}"
        self._timeline.write(line + "\n")
        self._timeline.flush()

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def spawn(self, name, argv, env=None, stdout=None, stderr=None):
        if stdout is None:
            stdout = open(os.path.join(self.tmp, f"{name}.log"), "ab")
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr or subprocess.STDOUT,
            env=env or clean_env(), start_new_session=True)
        self.procs.append((name, proc))
        return proc

    # -- start

    def start_etcd(self):
        peer = f"http://{HOST}:{self.etcd_peer_port}"
        client = f"http://{HOST}:{self.etcd_port}"
        self.spawn("etcd", [
            "etcd", "--name", "default", "--data-dir", os.path.join(self.tmp, "etcd-data"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"default={peer}",
        ])

        def healthy():
            status, body = call(self.etcd_port, "GET", "/health", timeout=0.5)
            return status == 200 and isinstance(body, dict) and body.get("health") == "true"

        wait_until("etcd", healthy, 30)
        say(f"etcd up on {HOST}:{self.etcd_port} (prefix {self.etcd_prefix})")

    def start_haproxy(self):
        env = clean_env()
        env.update({
            "DLSMS_PROXY_PORT": str(self.proxy_port),
            "DLSMS_READS_PORT": str(self.reads_port),
            "DLSMS_NODE1": f"{HOST}:{self.nodes[0].port}",
            "DLSMS_NODE2": f"{HOST}:{self.nodes[1].port}",
            "DLSMS_NODE3": f"{HOST}:{self.nodes[2].port}",
        })
        proc = self.spawn("haproxy", ["haproxy", "-f", HAPROXY_CFG], env=env)

        def listening():
            if proc.poll() is not None:
                raise HarnessFailure(f"haproxy exited with status {proc.returncode}: see haproxy.log")
            try:
                socket.create_connection((HOST, self.proxy_port), timeout=0.5).close()
                return True
            except OSError:
                return False

        wait_until("haproxy", listening, 15)
        say(f"haproxy up: writes on {HOST}:{self.proxy_port}, reads on {HOST}:{self.reads_port}")

    def start_nodes(self):
        first = self.nodes[0]
        first.start()
        wait_until(f"{first.name} to be primary", lambda: first.health("primary")[0] == 200, 90, 0.2)
        say(f"{first.name} is primary ({HOST}:{first.port})")
        for node in self.nodes[1:]:
            node.start()
        for node in self.nodes[1:]:
            wait_until(f"{node.name} to be a caught-up standby", lambda n=node: n.health("standby")[0] == 200, 90, 0.2)
            say(f"{node.name} is a caught-up standby ({HOST}:{node.port})")

    # -- state

    def primaries(self):
        """(node, health body) of every node answering /healthz/primary 200, asked in parallel."""
        answers = {}

        def ask(node):
            answers[node.name] = node.health("primary", timeout=0.5)

        threads = [threading.Thread(target=ask, args=(n,)) for n in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [(n, answers[n.name][1]) for n in self.nodes if answers[n.name][0] == 200]

    def the_primary(self, timeout=10):
        def one():
            found = self.primaries()
            return found[0] if len(found) == 1 else None

        return wait_until("exactly one primary", one, timeout, 0.05)

    def wait_healthy(self, timeout=30):
        """One primary and two caught-up standbys."""

        def healthy():
            found = self.primaries()
            if len(found) != 1:
                return None
            primary = found[0][0]
            for node in self.nodes:
                if node is not primary and node.health("standby")[0] != 200:
                    return None
            return found[0]

        started = time.monotonic()
        result = wait_until("one primary and two caught-up standbys", healthy, timeout, 0.2)
        return result, time.monotonic() - started

    # -- stop

    def cleanup(self):
        with self._cleanup_lock:
            if self._cleaned:
                return
            self._cleaned = True
        self.stopping.set()
        for node in self.nodes:
            node.signal(signal.SIGCONT)
            node.terminate()
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=3)
                except OSError:
                    pass
        for node in self.nodes:
            if node.thread:
                node.thread.join(timeout=5)
        self._timeline.close()

    def remove(self):
        if self.keep:
            say(f"kept the test directory: {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# Probes: writes through the proxy


class Prober:
    """A student of its own booking, through the proxy, distinct seats and windows on day 13 from
    today (the load generator books days 1–12), so that no probe conflicts with anything."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.token = None
        self.student = "ha-probe-" + secrets.token_hex(3)
        self.counter = 0
        self.lock = threading.Lock()
        self.acknowledged = []  # (reservation id, seat, start, end)
        today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        self.day = today + datetime.timedelta(days=13)

    def register(self):
        def attempt():
            status, body = call(self.cluster.proxy_port, "POST", "/auth/register",
                                {"student_id": self.student, "password": "probe-password-1", "name": "HA Probe"},
                                timeout=5)
            if status == 409:  # registered by an earlier attempt whose answer was lost
                status, body = call(self.cluster.proxy_port, "POST", "/auth/login",
                                    {"student_id": self.student, "password": "probe-password-1"}, timeout=5)
            if status in (200, 201) and isinstance(body, dict) and body.get("token"):
                self.token = body["token"]
                return True
            return False

        wait_until("the probe student's registration through the proxy", attempt, 30, 0.2)

    def next_slot(self):
        with self.lock:
            n = self.counter
            self.counter += 1
        seat = 1001 + n % 1000
        hour = (n // 1000) % 23
        start = self.day + datetime.timedelta(hours=hour)
        end = start + datetime.timedelta(hours=1)
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return {"seat_id": seat, "start_time": start.strftime(fmt), "end_time": end.strftime(fmt)}

    def book(self, port, timeout=2.0):
        slot = self.next_slot()
        status, body = call(port, "POST", "/reservations", slot, token=self.token, timeout=timeout)
        if status == 201 and isinstance(body, dict):
            with self.lock:
                self.acknowledged.append((body.get("id"), slot))
        return status, body

    def measure(self, since, limit=30.0):
        """Starts a write through the proxy every 50 ms (each on its own connection, each its own
        seat and window) until one is acknowledged: the seconds from `since` to that 201, and the
        count of each answer seen."""
        first = []
        seen = {}
        done = threading.Event()
        lock = threading.Lock()

        def attempt():
            status, body = self.book(self.cluster.proxy_port)
            at = time.monotonic()
            with lock:
                key = outcome(status, body)
                count, earliest, latest = seen.get(key, (0, None, None))
                offset = round(at - since, 2)
                seen[key] = (count + 1, offset if earliest is None else earliest, offset)
                if status == 201:
                    first.append(at)
                    done.set()

        threads = []
        while not done.is_set() and time.monotonic() - since < limit:
            t = threading.Thread(target=attempt, daemon=True)
            t.start()
            threads.append(t)
            done.wait(0.05)
        for t in threads:
            t.join(timeout=3)
        # answer -> "count (first at s .. last at s after the event)"
        seen = {k: f"{c} ({a:.2f}..{b:.2f} s)" if c > 1 else f"1 ({a:.2f} s)" for k, (c, a, b) in sorted(seen.items())}
        if not first:
            return None, seen
        return min(first) - since, seen


# ------------------------------------------------------------------------------------------------
# The test


class Run:
    def __init__(self, args):
        self.args = args
        self.cluster = Cluster(args)
        self.prober = Prober(self.cluster)
        self.events = []
        self.checks = []  # (ok, text)
        self.loadtest = None
        self.load_started = threading.Event()
        self.load_report_path = os.path.join(self.cluster.tmp, "loadtest-report.json")
        self.epochs = []
        self.http_5xx = collections.Counter()  # from a node: a bug unless 503
        self.proxy_5xx = collections.Counter()  # HAProxy's own error pages (a node died mid-request)
        self.resumed_answers = collections.Counter()

    def check(self, ok, text):
        self.checks.append((bool(ok), text))
        say(("ok      " if ok else "FAILED  ") + text)
        return ok

    # -- load

    def start_loadtest(self):
        c = self.cluster
        argv = [
            c.binary, "loadtest", "--url", f"http://{HOST}:{c.proxy_port}", "--scenario", "mixed",
            "--connections", "16", "--duration", str(self.args.duration), "--students", "100",
            "--admin-password", ADMIN_PASSWORD, "--timeout", "5", "--report", self.load_report_path,
        ]
        out = open(os.path.join(c.tmp, "loadtest.out"), "ab")
        self.loadtest = c.spawn("loadtest", argv, stdout=out, stderr=subprocess.PIPE)
        err_path = os.path.join(c.tmp, "loadtest.err")

        def pump():
            with open(err_path, "ab") as err:
                for line in self.loadtest.stderr:
                    err.write(line)
                    err.flush()
                    if line.startswith(b"[") and not self.load_started.is_set():
                        self.load_started.set()

        threading.Thread(target=pump, name="loadtest-stderr", daemon=True).start()

    def load_running(self):
        return self.loadtest.poll() is None

    # -- events

    def record_epoch(self, event, primary_body):
        epoch = primary_body.get("epoch")
        previous = self.epochs[-1] if self.epochs else None
        self.epochs.append(epoch)
        event["epoch"] = epoch
        if previous is not None:
            self.check(isinstance(epoch, int) and epoch > previous,
                       f"{event['kind']}: epoch {previous} -> {epoch} (strictly increasing)")

    def kill_event(self, number):
        c = self.cluster
        old, old_body = c.the_primary()
        event = {"kind": f"kill -9 #{number}", "old_primary": old.name, "old_epoch": old_body.get("epoch")}
        say(f"SIGKILL {old.name} (primary, epoch {old_body.get('epoch')})")
        pid = old.pid
        killed_at = time.monotonic()
        old.kill_by_harness()
        # Probes start once the process is gone, so that none is answered by the dying node.
        event["signal_took_ms"] = round(1000 * wait_signalled(pid, stopped=False), 1)
        c.timeline(f"harness: SIGKILL {old.name}")
        restart = threading.Timer(max(0.0, self.args.restart_delay - (time.monotonic() - killed_at)),
                                  old.restart_after_kill)
        restart.daemon = True
        restart.start()
        seconds, seen = self.prober.measure(killed_at)
        restart.join()
        self.finish_event(event, seconds, seen)
        return event

    def stop_event(self):
        c = self.cluster
        old, old_body = c.the_primary()
        stop_for = LEASE_SECONDS + 3
        event = {"kind": "SIGSTOP", "old_primary": old.name, "old_epoch": old_body.get("epoch"),
                 "stopped_seconds": stop_for}
        pid = old.pid
        say(f"SIGSTOP {old.name} (primary, epoch {old_body.get('epoch')}) for {stop_for} s")
        stopped_at = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        # Probes start once every thread has stopped: until then the node may still (rightly, its
        # lease holds) acknowledge a write, which would look like a failover of 0 s.
        event["signal_took_ms"] = round(1000 * wait_signalled(pid, stopped=True), 1)
        c.timeline(f"harness: SIGSTOP {old.name} (all threads stopped after {event['signal_took_ms']} ms)")
        result = {}

        def measure():
            result["value"] = self.prober.measure(stopped_at)

        measuring = threading.Thread(target=measure, daemon=True)
        measuring.start()
        time.sleep(max(0.0, stop_for - (time.monotonic() - stopped_at) - 0.1))

        # Requests sent to the stopped node itself wait in its listen queue and are the first it
        # sees when it resumes: neither a write nor the health check may say "primary" any more.
        answers = []
        answers_lock = threading.Lock()
        resumed_at = []

        def direct_write():
            status, body = self.prober.book(old.port, timeout=5)
            with answers_lock:
                answers.append(("POST /reservations", status, outcome(status, body)))

        def poll_primary():
            while not resumed_at:
                time.sleep(0.01)
            deadline = resumed_at[0] + 2.0
            first = True
            while first or time.monotonic() < deadline:
                first = False
                status, body = old.health("primary", timeout=2.5)
                with answers_lock:
                    answers.append(("GET /healthz/primary", status, outcome(status, body)))
                time.sleep(0.05)

        def queued_health():
            status, body = old.health("primary", timeout=5)
            with answers_lock:
                answers.append(("GET /healthz/primary (queued)", status, outcome(status, body)))

        queued = [threading.Thread(target=direct_write, daemon=True) for _ in range(3)]
        queued.append(threading.Thread(target=queued_health, daemon=True))
        for t in queued:
            t.start()
        pollers = [threading.Thread(target=poll_primary, daemon=True)]
        pollers[0].start()
        time.sleep(max(0.0, stop_for - (time.monotonic() - stopped_at)))
        os.kill(pid, signal.SIGCONT)
        resumed_at.append(time.monotonic())
        c.timeline(f"harness: SIGCONT {old.name}")
        say(f"SIGCONT {old.name} after {resumed_at[0] - stopped_at:.2f} s")
        for t in queued + pollers:
            t.join(timeout=8)
        measuring.join(timeout=40)
        seconds, seen = result.get("value", (None, {}))
        self.finish_event(event, seconds, seen)

        for kind, status, text in answers:
            self.resumed_answers[f"{kind}: {text}"] += 1
        event["resumed_node_answers"] = dict(self.resumed_answers)
        writes_acked = [a for a in answers if a[0].startswith("POST") and a[1] == 201]
        primary_200 = [a for a in answers if a[0].startswith("GET") and a[1] == 200]
        self.check(not writes_acked, f"SIGSTOP: the resumed {old.name} acknowledged no write sent to it "
                   f"({', '.join(sorted(set(a[2] for a in answers if a[0].startswith('POST')))) or 'no answers'})")
        self.check(not primary_200, f"SIGSTOP: the resumed {old.name} never answered /healthz/primary 200 "
                   f"({', '.join(sorted(set(a[2] for a in answers if a[0].startswith('GET')))) or 'no answers'})")

        # It must exit 75, be restarted by its supervisor, and come back as a standby.
        def rejoined():
            exited = [e for e in old.exits if e["at"] >= resumed_at[0] - T0 - 0.05 and e["status"] == REJOIN_STATUS]
            return exited if exited and old.health("standby")[0] == 200 else None

        try:
            exits = wait_until(f"{old.name} to come back as a caught-up standby", rejoined, 45, 0.2)
            event["resumed_node_exits"] = len(exits)
            self.check(True, f"SIGSTOP: {old.name} exited with status 75 {len(exits)} time(s), was restarted "
                       f"and is a caught-up standby again, {now() - (resumed_at[0] - T0):.1f} s after SIGCONT")
        except HarnessFailure as error:
            exits = [e for e in old.exits if e["at"] >= resumed_at[0] - T0 - 0.05]
            self.check(False, f"SIGSTOP: {old.name} did not come back as a standby ({error}); exits after "
                       f"SIGCONT: {exits}; /healthz/standby now: {outcome(*old.health('standby'))}")
        return event

    def finish_event(self, event, seconds, seen):
        c = self.cluster
        event["probe_answers"] = seen
        for key, text in seen.items():
            if key[:1] == "5" and not key.startswith("503"):
                count = int(text.split()[0])
                if key.endswith("haproxy"):
                    self.proxy_5xx[f"{key} (probe, {event['kind']})"] += count
                else:
                    self.http_5xx[f"{key} (probe, {event['kind']})"] += count
        if seconds is None:
            event["failover_seconds"] = None
            self.check(False, f"{event['kind']}: no write acknowledged through the proxy within 30 s "
                       f"(answers: {seen})")
            return
        event["failover_seconds"] = round(seconds, 3)
        try:
            new, body = c.the_primary(timeout=10)
            event["new_primary"] = new.name
            self.record_epoch(event, body)
        except HarnessFailure as error:
            event["new_primary"] = None
            self.check(False, f"{event['kind']}: no single primary after the failover ({error})")
        say(f"{event['kind']}: {event['old_primary']} -> {event.get('new_primary')}, epoch "
            f"{event.get('epoch')}, first acknowledged write after {seconds:.2f} s (process "
            f"{'stopped' if event['kind'] == 'SIGSTOP' else 'gone'} after {event.get('signal_took_ms')} ms; "
            f"probe answers: {seen})")
        self.check(seconds <= MAX_FAILOVER_SECONDS,
                   f"{event['kind']}: failover {seconds:.2f} s <= {MAX_FAILOVER_SECONDS:.0f} s")

    # -- the whole run

    def run(self):
        c = self.cluster
        args = self.args
        say(f"mode {args.mode}, binary {c.binary}, directory {c.tmp}")
        c.start_etcd()
        c.start_haproxy()
        c.start_nodes()
        c.monitor.start()
        (primary, body), _ = c.wait_healthy(60)
        self.epochs.append(body.get("epoch"))
        say(f"cluster ready: primary {primary.name}, epoch {body.get('epoch')}")
        self.check_display()
        self.prober.register()
        say(f"probe student {self.prober.student} registered through the proxy")

        estimate = 4 + args.kills * 11 + (LEASE_SECONDS + 3) + 8
        if estimate > args.duration:
            say(f"warning: the events may need about {estimate:.0f} s, longer than --duration {args.duration}")
        self.start_loadtest()
        wait_until("the load generator's preparation", lambda: self.load_started.is_set() or not self.load_running(),
                   120, 0.1)
        if not self.load_running():
            raise HarnessFailure(f"the load generator exited with status {self.loadtest.returncode} during "
                                 f"its preparation: see loadtest.err / loadtest.out")
        load_start = time.monotonic() - 1.0  # the first progress line comes a second into the load
        say("load running")
        time.sleep(4)

        for k in range(args.kills):
            (_, _), waited = c.wait_healthy(30)
            if waited > 0.5:
                say(f"waited {waited:.1f} s for one primary and two caught-up standbys")
            self.events.append(self.kill_event(k + 1))
            time.sleep(6)
        (_, _), waited = c.wait_healthy(30)
        if waited > 0.5:
            say(f"waited {waited:.1f} s for one primary and two caught-up standbys")
        self.events.append(self.stop_event())
        (_, _), waited = c.wait_healthy(30)
        events_done = time.monotonic()
        say("all events done; the cluster has one primary and two caught-up standbys")
        self.check(self.load_running(),
                   f"the load was still running when the events were over ({events_done - load_start:.1f} s into "
                   f"--duration {args.duration:g})")

        try:
            self.loadtest.wait(timeout=args.duration + 90 - (time.monotonic() - load_start))
        except subprocess.TimeoutExpired:
            raise HarnessFailure("the load generator did not finish in time")
        say(f"load generator finished with status {self.loadtest.returncode}")
        self.check_load()
        self.check_probes()
        self.check_convergence()
        self.check_exits()
        violations = c.monitor.violations()
        self.check(not violations, "no node answered /healthz/primary 200 under an epoch older than one already "
                   "seen" + ("".join("\n          " + v for v in violations)))

    def check_display(self):
        """The entrance display loads behind HAProxy's read port (served by whichever node it picks,
        a standby included): the page, and its figures without anything personal."""
        import urllib.request
        c = self.cluster
        base = f"http://{HOST}:{c.reads_port}"
        for _ in range(3):  # the read port balances: ask a few times
            with urllib.request.urlopen(base + "/public/display/Main%20Library", timeout=10) as r:
                data = json.loads(r.read())
                self.check(r.status == 200 and data.get("total", 0) > 0 and "seats" in data,
                           f"the display's figures through the read port: {r.status} {str(data)[:200]}")
                self.check("student" not in json.dumps(data) and "S20" not in json.dumps(data),
                           "the display's figures name no one")
            with urllib.request.urlopen(base + "/display/Main%20Library", timeout=10) as r:
                self.check(r.status == 200 and "text/html" in r.headers.get("Content-Type", ""),
                           "the display page through the read port")
        say("the entrance display loads through the read port")

    def check_load(self):
        c = self.cluster
        out = ""
        try:
            with open(os.path.join(c.tmp, "loadtest.out"), encoding="utf-8", errors="replace") as f:
                out = f.read()
        except OSError:
            pass
        for line in out.splitlines():
            if line.startswith(("check:", "  ", "status:", "error codes:", "no answer:", "requests:")):
                say("loadtest | " + line)
        try:
            with open(self.load_report_path) as f:
                report = json.load(f)
        except (OSError, ValueError) as error:
            self.check(False, f"the load generator wrote no report ({error}); exit status "
                       f"{self.loadtest.returncode}; stderr tail:\n" + tail_file(os.path.join(c.tmp, "loadtest.err")))
            return
        self.load_report = report
        verdict = report.get("check") or {}
        results = report.get("results") or {}
        codes = results.get("error_codes") or {}
        for status, count in (results.get("status_counts") or {}).items():
            if str(status).startswith("5") and str(status) != "503":
                # An answer without a JSON error code comes from HAProxy, not from a node.
                from_proxy = min(count, codes.get(f"http_{status}", 0))
                if from_proxy:
                    self.proxy_5xx[f"{status} (load generator, no JSON code: HAProxy)"] += from_proxy
                if count - from_proxy:
                    self.http_5xx[f"{status} (load generator)"] += count - from_proxy
        lost = verdict.get("lost")
        phantom = verdict.get("phantom")
        overlaps = verdict.get("overlaps")
        wrong = verdict.get("wrong_state")
        passed = lost == 0 and phantom == 0 and overlaps == 0 and wrong == 0
        counts = (f"acknowledged {verdict.get('acknowledged_bookings')}, unknown {verdict.get('unknown_bookings')} "
                  f"({verdict.get('unknown_applied')} took effect), lost {lost}, phantom {phantom}, "
                  f"overlaps {overlaps}, wrong state {wrong}")
        violations = verdict.get("violations") or []
        if self.args.mode == "sync":
            self.check(passed and self.loadtest.returncode == 0,
                       f"checker passed (exit status {self.loadtest.returncode}): {counts}")
            self.check(lost == 0, f"sync: lost == 0 (got {lost})")
            self.check(wrong == 0, f"wrong state == 0 (got {wrong})")
        else:
            # Async acknowledges before a standby has the write: a failover may lose acknowledged
            # bookings (lost) and acknowledged cancels and check-ins, which the checker counts as
            # wrong states ("… after an acknowledged cancel"). Only a state change that no request
            # could have made is a violation here. (The checker lists its first 20 violations: a
            # wrong state it does not list cannot be told apart and counts as a violation.)
            lost_changes = [v for v in violations if v.startswith("state:") and "after an acknowledged" in v]
            unexplained = (wrong or 0) - len(lost_changes)
            say("=" * 72)
            say(f"async: {lost} acknowledged bookings lost, {len(lost_changes)} acknowledged cancels/check-ins lost")
            say("=" * 72)
            self.check(self.loadtest.returncode in (0, 1),
                       f"the load generator ran to its verdict (exit status {self.loadtest.returncode}): {counts}")
            self.check(unexplained == 0,
                       f"wrong state == 0 apart from lost acknowledged cancels/check-ins (got {wrong}, "
                       f"{len(lost_changes)} of them lost acknowledged changes)")
            self.async_losses = {"lost_bookings": lost, "lost_cancels_or_checkins": len(lost_changes)}
        self.check(phantom == 0, f"phantom == 0 (got {phantom})")
        self.check(overlaps == 0, f"overlaps == 0 (got {overlaps})")
        for v in violations[:20]:
            say("  violation: " + v)

    def check_probes(self):
        """Every write the probes saw acknowledged is there at the end (sync), or counted (async)."""
        status, body = call(self.cluster.proxy_port, "GET", "/reservations/mine?limit=1000",
                            token=self.prober.token, timeout=10)
        if status != 200 or not isinstance(body, dict):
            self.check(False, f"reading the probe student's reservations back: {outcome(status, body)}")
            return
        present = {r.get("id"): r for r in body.get("reservations", [])}
        missing = []
        for rid, slot in self.prober.acknowledged:
            r = present.get(rid)
            if (r is None or r.get("seat_id") != slot["seat_id"] or r.get("status") != "CONFIRMED"
                    or r.get("start_time") != slot["start_time"]):
                missing.append(rid)
        text = (f"acknowledged probe bookings present at the end: {len(self.prober.acknowledged) - len(missing)} "
                f"of {len(self.prober.acknowledged)}" + (f" (missing ids {missing[:10]})" if missing else ""))
        if self.args.mode == "sync":
            self.check(not missing, text)
        else:
            say(("ok      " if not missing else "note    ") + text)

    def check_convergence(self):
        """Once the load is over, the three nodes reach the same log position and reservation count."""
        c = self.cluster
        last = {}

        def converged():
            for node in c.nodes:
                status, body = node.health("primary", timeout=1)
                if status != 200:
                    status, body = node.health("standby", timeout=1)
                _, healthz = call(node.port, "GET", "/healthz", timeout=1)
                last[node.name] = (
                    body.get("durable_lsn") if isinstance(body, dict) else None,
                    healthz.get("reservations") if isinstance(healthz, dict) else None)
            values = set(last.values())
            return len(values) == 1 and None not in next(iter(values))

        try:
            wait_until("the nodes to converge", converged, 20, 0.25)
            self.check(True, f"the three nodes converged: durable LSN and reservations {next(iter(last.values()))}")
        except HarnessFailure:
            self.check(False, f"the nodes did not converge within 20 s after the load: {last}")

    def check_exits(self):
        unexpected = []
        for node in self.cluster.nodes:
            say(f"{node.name}: started {node.starts} times; exits: "
                + (", ".join(f"{e['kind']} at {e['at']:.2f}s" for e in node.exits) or "none"))
            unexpected += [f"{node.name} at {e['at']}s: {e['kind']}" for e in node.exits if e["kind"].startswith("UNEXPECTED")]
            if node.pid is None:
                unexpected.append(f"{node.name} is not running at the end")
        self.check(not unexpected, "no node exited other than with status 75 or by the harness's SIGKILL"
                   + "".join("\n          " + u for u in unexpected))
        self.check(not self.http_5xx, "no node answered a 5xx other than 503"
                   + (f": {dict(self.http_5xx)}" if self.http_5xx else ""))
        if self.proxy_5xx:
            say(f"note    HAProxy's own error pages other than 503 (a request in flight to a node that died "
                f"or stopped): {dict(self.proxy_5xx)}")

    # -- report

    def summary(self, error=None):
        c = self.cluster
        times = [e["failover_seconds"] for e in self.events if e.get("failover_seconds") is not None]
        print()
        print(f"=== failover summary ({self.args.mode}) ===")
        print(f"{'event':<12} {'old':<4} {'new':<4} {'epoch':>5} {'failover s':>10}")
        for e in self.events:
            secs = e.get("failover_seconds")
            print(f"{e['kind']:<12} {e['old_primary']:<4} {str(e.get('new_primary')):<4} {str(e.get('epoch')):>5} "
                  f"{'-' if secs is None else f'{secs:.2f}':>10}")
        if times:
            print(f"failover max {max(times):.2f} s, median {statistics.median(times):.2f} s; epochs {self.epochs}")
        failed = [t for ok, t in self.checks if not ok] + list(c.failures)
        if error:
            failed.append(error)
        passed = not failed and bool(self.checks)
        verdict = (getattr(self, "load_report", None) or {}).get("check")
        doc = {
            "mode": self.args.mode,
            "passed": passed,
            "duration": self.args.duration,
            "kills": self.args.kills,
            "events": self.events,
            "failover_seconds": {"all": times, "max": max(times) if times else None,
                                 "median": statistics.median(times) if times else None},
            "epochs": self.epochs,
            "checks": [{"ok": ok, "check": t} for ok, t in self.checks],
            "failures": failed,
            "exits": {n.name: n.exits for n in c.nodes},
            "starts": {n.name: n.starts for n in c.nodes},
            "http_5xx_other_than_503": dict(self.http_5xx),
            "haproxy_5xx_other_than_503": dict(self.proxy_5xx),
            "loadtest_check": verdict,
            "async_losses": getattr(self, "async_losses", None),
            "directory": c.tmp if c.keep else None,
        }
        extra = {}
        if os.path.exists(self.load_report_path):
            extra[f"loadtest-{self.args.mode}.json"] = self.load_report_path
        report(self.args.report_dir, f"failover-{self.args.mode}", doc, passed, c, extra)
        verdict_lines(f"{self.args.mode} failover test", f"{len(self.checks)} checks", passed, failed, c)
        return passed


def report(report_dir, name, doc, passed, cluster, extra=None):
    """Writes `doc` to REPORT_DIR/NAME.json (and the files `extra` maps a name to), and on a
    failure copies the nodes' logs to REPORT_DIR/NAME-logs."""
    if not report_dir:
        return
    os.makedirs(report_dir, exist_ok=True)
    path = os.path.join(report_dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
    for target, source in (extra or {}).items():
        shutil.copy(source, os.path.join(report_dir, target))
    if not passed:
        logs = os.path.join(report_dir, f"{name}-logs")
        os.makedirs(logs, exist_ok=True)
        for entry in os.listdir(cluster.tmp):
            if entry.endswith((".log", ".out", ".err")):
                shutil.copy(os.path.join(cluster.tmp, entry), logs)
        print(f"logs copied to {logs}")
    print(f"report: {path}")


def verdict_lines(title, detail, passed, failed, cluster):
    """PASSED or FAILED with what failed and the last lines of each node's log."""
    if passed:
        print(f"PASSED: {title} ({detail})")
        return
    print(f"FAILED: {title}:")
    for f in failed:
        print("  - " + f)
    for node in cluster.nodes:
        print(f"--- last lines of {node.name}.log ---")
        print(node.tail(15))


def tail_file(path, lines=15):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "\n".join(f.read().splitlines()[-lines:])
    except OSError:
        return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="the dlsms binary")
    parser.add_argument("--mode", required=True, choices=["sync", "async"])
    parser.add_argument("--duration", type=float, default=45, help="seconds of load (default 45)")
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs of the primary (default 2)")
    parser.add_argument("--report-dir", help="write failover-MODE.json (and the load report) here")
    parser.add_argument("--restart-delay", type=float, default=1.0,
                        help="seconds between a SIGKILL and the killed node's restart (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (data, logs)")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        parser.error(f"{args.binary} is not an executable")
    for tool in ("etcd", "haproxy"):
        if not shutil.which(tool):
            parser.error(f"{tool} is not installed (Debian packages etcd-server and haproxy)")

    run = Run(args)
    run_to_the_end(run, run.cluster, args.duration + 120)


def run_to_the_end(test, cluster, limit):
    """Runs `test` (its run() and summary(error)) with `cluster`: an overall timeout of `limit`
    seconds, signals turned into a clean stop, everything stopped and removed whatever happens;
    exits 0 when the summary says every check passed, 1 otherwise."""

    def watchdog():
        say(f"FAILED: overall timeout of {limit:.0f} s reached; stopping everything")
        try:
            test.summary("overall timeout reached")
        finally:
            cluster.cleanup()
            cluster.remove()
            os._exit(1)

    timer = threading.Timer(limit, watchdog)
    timer.daemon = True
    timer.start()

    def on_signal(signum, frame):
        if cluster.stopping.is_set():
            return  # already cleaning up: let it finish
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    error = None
    try:
        test.run()
    except KeyboardInterrupt:
        error = "interrupted"
        say("interrupted; stopping everything")
    except HarnessFailure as failure:
        error = f"harness: {failure}"
        say(f"FAILED: {failure}")
    except Exception:  # noqa: BLE001 - report anything and still clean up
        error = "harness error:\n" + traceback.format_exc()
        say(error)
    finally:
        timer.cancel()
        cluster.cleanup()
    try:
        passed = test.summary(error)
    finally:
        cluster.remove()
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
