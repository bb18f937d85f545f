#!/usr/bin/env python3
"""Election test of an `async` DL-SMS cluster: a lagging node restarted while no node leads must
not win over the most advanced standby (README "High availability": "the most advanced standby is
elected").

Reuses failover.py's etcd, supervised nodes and health monitor, on 127.0.0.1 only and on free
ports (no HAProxy: the writes go straight to the primary). Each round (--rounds, default 5):

  1. waits for one primary P and two caught-up standbys; the standby with the smaller name is made
     to lag (L), the other (A) stays current. (With equal logs the smaller name would be preferred,
     so only the length of the logs can make A win.)
  2. books through P directly, from two threads, for the whole step: after 1 s L is stopped with
     SIGSTOP, 1.5 s later killed with SIGKILL while stopped, and the writes go on for 1 s more, so
     that A's log is longer than L's;
  3. kills P with SIGKILL and stops writing; reads A's log position (it cannot move without a
     primary) and the probe bookings A holds;
  4. polls etcd (its JSON gateway) every 10 ms until P's leader key `<prefix>/leader` is gone,
     and then restarts L at once;
  5. checks: the new leader key names A, under the next epoch; L's log was shorter than A's (where
     L starts following, its log's "from_lsn", and its candidacy under `<prefix>/candidates/` when
     it published one); the new primary answers /healthz/primary 200 with durable_lsn >= A's LSN;
     every acknowledged booking A held is on the new primary; L comes back as a standby of the
     new primary without exiting, and reaches its durable_lsn. P is restarted after the election
     and must come back as a standby too (by exiting 75 first if it kept writes A never got).

For each round it prints when L reached its role decision ("no primary: joining the election as
a standby", the point where the node before this change took the leader key at once), and when A
took the key: when L's decision came first, the old behaviour would have elected L there.

Standard library only. Usage:

    python3 Tests/ha/lagging_restart.py --binary .build/debug/dlsms [--rounds 5] [--report-dir DIR] [--keep]

Exit status 0 when every check passed, 1 otherwise (2 for a usage error).
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import failover as ha  # noqa: E402  (the harness this one builds on)
from failover import HarnessFailure, call, now, say, wait_until  # noqa: E402

DECISION_LINE = b"no primary: joining the election as a standby"
TOOK_KEY_LINE = b"took the leader key"
FOLLOWING = re.compile(rb"from_lsn=(\d+) .*following the primary")
POLL = 0.01


# ------------------------------------------------------------------------------------------------
# etcd through its JSON gateway (v3 API, keys and values base64)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def unb64(text):
    return base64.b64decode(text or "")


def etcd_range(port, key, prefix=False):
    """{key: (value bytes, mod_revision)} of `key` (or of every key under it), or None when etcd did
    not answer."""
    body = {"key": b64(key)}
    if prefix:
        end = key[:-1] + chr(ord(key[-1]) + 1)
        body["range_end"] = b64(end)
    status, answer = call(port, "POST", "/v3/kv/range", body, timeout=0.5)
    if status != 200 or not isinstance(answer, dict):
        return None
    return {unb64(kv["key"]).decode(): (unb64(kv.get("value")), int(kv.get("mod_revision", 0)))
            for kv in answer.get("kvs", [])}


def leader_record(port, prefix):
    """The leader key's record ({"node", "url", "epoch"}), {} when there is none, None when etcd
    did not answer."""
    found = etcd_range(port, prefix + "/leader")
    if found is None:
        return None
    value = found.get(prefix + "/leader")
    if value is None:
        return {}
    try:
        return json.loads(value[0])
    except ValueError:
        return {"unreadable": value[0][:100].decode("utf-8", "replace")}


# ------------------------------------------------------------------------------------------------
# Bookings straight to the primary


class Writers:
    """`count` threads booking through one node until stopped; every 201 is kept by the prober."""

    def __init__(self, prober, port, count=2, pause=0.004):
        self.prober = prober
        self.port = port
        self.stop_event = threading.Event()
        self.answers = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(pause,), daemon=True) for _ in range(count)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self, pause):
        while not self.stop_event.is_set():
            status, body = self.prober.book(self.port, timeout=2.0)
            key = ha.outcome(status, body)
            with self.lock:
                self.answers[key] = self.answers.get(key, 0) + 1
            if status != 201:
                time.sleep(0.05)
            elif pause:
                time.sleep(pause)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=5)
        return dict(sorted(self.answers.items()))


def register(prober, port):
    """Registers the probe student on `port` (the primary) and keeps its token."""
    def attempt():
        status, body = call(port, "POST", "/auth/register",
                            {"student_id": prober.student, "password": "probe-password-1", "name": "HA Probe"},
                            timeout=5)
        if status == 409:
            status, body = call(port, "POST", "/auth/login",
                                {"student_id": prober.student, "password": "probe-password-1"}, timeout=5)
        if status in (200, 201) and isinstance(body, dict) and body.get("token"):
            prober.token = body["token"]
            return True
        return False

    wait_until("the probe student's registration", attempt, 30, 0.2)


def reservation_ids(port, token):
    """The ids of the probe student's confirmed reservations on the node at `port` (all pages), or
    None when the node did not answer."""
    ids, offset = set(), 0
    while True:
        status, body = call(port, "GET", f"/reservations/mine?limit=1000&offset={offset}", token=token, timeout=10)
        if status != 200 or not isinstance(body, dict):
            return None
        page = body.get("reservations") or []
        ids.update(r.get("id") for r in page if r.get("status") == "CONFIRMED")
        if len(page) < 1000:
            return ids
        offset += len(page)


def durable_lsn(node, timeout=0.5):
    """(status, body, durable_lsn) of the node's /healthz/standby (or /healthz/primary) answer."""
    status, body = node.health("standby", timeout=timeout)
    if status is not None and isinstance(body, dict) and body.get("role") == "primary":
        status, body = node.health("primary", timeout=timeout)
    lsn = body.get("durable_lsn") if isinstance(body, dict) else None
    return status, body, lsn


# ------------------------------------------------------------------------------------------------
# Watching the restarted node and etcd during the election


class ElectionWatch:
    """From the lagging node's restart: when its log shows its role decision (and whether it took
    the key), its first /healthz answer (its log position before following anyone), the candidacies
    published in etcd, and the new leader key."""

    def __init__(self, cluster, lagging, log_offset, started_at):
        self.cluster = cluster
        self.lagging = lagging
        self.log_offset = log_offset
        self.started_at = started_at
        self.done = threading.Event()
        self.decision_at = None
        self.lagging_took_key_at = None
        self.first_health = None  # (at, status, body)
        self.candidates = {}  # name -> first LSN seen
        self.leader = None  # (at, record)
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self._watch_log, self._watch_health, self._watch_etcd)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(timeout=3)

    def _watch_log(self):
        seen = b""
        while not self.done.is_set() and (self.decision_at is None or self.lagging_took_key_at is None):
            try:
                with open(self.lagging.log_path, "rb") as f:
                    f.seek(self.log_offset)
                    seen = f.read()
            except OSError:
                pass
            at = time.monotonic()
            if self.decision_at is None and DECISION_LINE in seen:
                self.decision_at = at
            if self.lagging_took_key_at is None and TOOK_KEY_LINE in seen:
                self.lagging_took_key_at = at
            time.sleep(0.005)

    def _watch_health(self):
        while not self.done.is_set() and self.first_health is None:
            status, body = self.lagging.health("standby", timeout=0.3)
            if status is not None:
                self.first_health = (time.monotonic(), status, body)
                return
            time.sleep(POLL)

    def _watch_etcd(self):
        c = self.cluster
        prefix = c.etcd_prefix + "/candidates/"
        while not self.done.is_set():
            found = etcd_range(c.etcd_port, prefix, prefix=True) or {}
            for key, (value, _) in found.items():
                name = key[len(prefix):]
                try:
                    self.candidates.setdefault(name, int(value))
                except ValueError:
                    pass
            if self.leader is None:
                record = leader_record(c.etcd_port, c.etcd_prefix)
                if record:
                    self.leader = (time.monotonic(), record)
            elif time.monotonic() > self.leader[0] + 1.5:
                return  # candidacies published after the key was taken are of no interest
            time.sleep(POLL)


# ------------------------------------------------------------------------------------------------
# The test


class LaggingRestart:
    def __init__(self, args):
        self.args = args
        self.cluster = ha.Cluster(argparse.Namespace(binary=args.binary, mode="async", keep=args.keep))
        self.prober = ha.Prober(self.cluster)
        self.checks = []
        self.rounds = []
        self.epoch = None

    def check(self, ok, text):
        self.checks.append((bool(ok), text))
        say(("ok      " if ok else "FAILED  ") + text)
        return ok

    def run(self):
        c = self.cluster
        say(f"scenario lagging-restart (async), binary {c.binary}, directory {c.tmp}")
        c.start_etcd()
        c.start_nodes()
        c.monitor.start()
        (primary, body), _ = c.wait_healthy(60)
        self.epoch = body.get("epoch")
        say(f"cluster ready: primary {primary.name}, epoch {self.epoch}")
        register(self.prober, primary.port)
        say(f"probe student {self.prober.student} registered on {primary.name}")
        for number in range(1, self.args.rounds + 1):
            self.rounds.append(self.round(number))
        (primary, body), waited = c.wait_healthy(45)
        self.check(True, f"after {self.args.rounds} rounds: primary {primary.name} (epoch {body.get('epoch')}) and "
                   f"two caught-up standbys")
        exits = {n.name: [e["kind"] for e in n.exits] for n in c.nodes}
        unexpected = [f"{name}: {k}" for name, kinds in exits.items() for k in kinds if k.startswith("UNEXPECTED")]
        self.check(not unexpected, f"no node exited other than by the harness's SIGKILL or with status 75 ({exits})")
        violations = c.monitor.violations()
        self.check(not violations, "no node answered /healthz/primary 200 under an epoch older than one already "
                   "seen" + "".join("\n          " + v for v in violations))

    def round(self, number):
        c = self.cluster
        tag = f"round {number}"
        (primary, body), _ = c.wait_healthy(45)
        standbys = sorted((n for n in c.nodes if n is not primary), key=lambda n: n.name)
        lagging, advanced = standbys
        rec = {"round": number, "primary": primary.name, "lagging": lagging.name, "advanced": advanced.name,
               "epoch_before": body.get("epoch")}
        say(f"{tag}: primary {primary.name} (epoch {body.get('epoch')}); {lagging.name} will lag, "
            f"{advanced.name} stays current")

        # 2. Writes to the primary; the lagging standby stopped, then killed while stopped.
        writers = Writers(self.prober, primary.port).start()
        acked_before = len(self.prober.acknowledged)
        time.sleep(1.0)
        _, _, rec["lagging_lsn_before_stop"] = durable_lsn(lagging)
        lagging_pid = lagging.pid
        os.kill(lagging_pid, signal.SIGSTOP)
        ha.wait_signalled(lagging_pid, stopped=True)
        c.timeline(f"harness: SIGSTOP {lagging.name}")
        time.sleep(1.5)
        lagging.kill_by_harness()
        ha.wait_signalled(lagging_pid, stopped=False)
        c.timeline(f"harness: SIGKILL {lagging.name} (stopped)")
        time.sleep(1.0)

        # 3. Kill the primary; what the advanced standby holds cannot change any more.
        _, _, rec["primary_lsn_before_kill"] = durable_lsn(primary)
        primary_pid = primary.pid
        primary.kill_by_harness()
        killed_at = time.monotonic()
        ha.wait_signalled(primary_pid, stopped=False)
        c.timeline(f"harness: SIGKILL {primary.name} (primary)")
        rec["writes"] = writers.stop()
        acked = self.prober.acknowledged[acked_before:]
        rec["acknowledged"] = len(acked)
        say(f"{tag}: SIGKILL {primary.name} (primary) after {len(acked)} acknowledged bookings "
            f"(answers {rec['writes']}); {lagging.name} stopped at LSN ~{rec['lagging_lsn_before_stop']}, "
            f"{primary.name} at {rec['primary_lsn_before_kill']}")

        def settled():
            readings = []
            for _ in range(2):
                status, body, lsn = durable_lsn(advanced)
                if lsn is None or not isinstance(body, dict) or body.get("role") != "standby":
                    return None
                readings.append(lsn)
                time.sleep(0.1)
            return readings[0] if readings[0] == readings[1] else None

        advanced_lsn = wait_until(f"{advanced.name}'s log position to settle", settled, 2.5, 0.05)
        rec["advanced_lsn"] = advanced_lsn
        on_advanced = reservation_ids(advanced.port, self.prober.token)
        if on_advanced is None:
            raise HarnessFailure(f"could not read the probe bookings on {advanced.name}")
        acked_ids = {rid for rid, _ in self.prober.acknowledged}
        acked_on_advanced = acked_ids & on_advanced
        rec["acknowledged_total_on_advanced"] = len(acked_on_advanced)
        rec["acknowledged_not_on_advanced"] = len({rid for rid, _ in acked} - on_advanced)
        record = leader_record(c.etcd_port, c.etcd_prefix)
        if record and record.get("node") != primary.name:
            self.check(False, f"{tag}: the leader key names {record.get('node')} before the old lease lapsed "
                       f"(expected {primary.name})")

        # 4. The leader key lapses: restart the lagging node at once.
        def key_gone():
            return leader_record(c.etcd_port, c.etcd_prefix) == {}

        wait_until("the dead primary's leader key to lapse", key_gone, ha.LEASE_SECONDS + 5, POLL)
        gone_at = time.monotonic()
        log_offset = os.path.getsize(lagging.log_path)
        starts_before = lagging.starts
        exits_before = len(lagging.exits)
        lagging.restart_after_kill()
        wait_until(f"{lagging.name}'s restart", lambda: lagging.starts > starts_before, 2, 0.001)
        spawned_at = time.monotonic()
        c.timeline(f"harness: leader key gone {gone_at - killed_at:.2f} s after the kill; restarted {lagging.name}")
        watch = ElectionWatch(c, lagging, log_offset, spawned_at).start()
        try:
            wait_until("a new leader key", lambda: watch.leader, 15, POLL)
            wait_until(f"{lagging.name}'s first /healthz answer", lambda: watch.first_health, 30, POLL)
            time.sleep(0.3)  # the candidacies and the log lines of the election
        finally:
            watch.stop()
        leader_at, leader = watch.leader
        winner = c.node(leader.get("node")) if leader.get("node") in [n.name for n in c.nodes] else None
        _, first_status, first_body = watch.first_health
        first_lsn = first_body.get("durable_lsn") if isinstance(first_body, dict) else None
        rec.update({
            "key_gone_after_kill_s": round(gone_at - killed_at, 3),
            "spawn_after_key_gone_s": round(spawned_at - gone_at, 3),
            "lagging_decision_after_key_gone_s":
                None if watch.decision_at is None else round(watch.decision_at - gone_at, 3),
            "new_leader_after_key_gone_s": round(leader_at - gone_at, 3),
            "lagging_first_health_after_key_gone_s": round(watch.first_health[0] - gone_at, 3),
            "lagging_lsn_first_health": first_lsn,
            "lagging_first_health": {k: first_body.get(k) for k in ("role", "primary", "durable_lsn")}
            if isinstance(first_body, dict) else first_body,
            "candidates": dict(watch.candidates),
            "winner": leader.get("node"),
            "epoch": leader.get("epoch"),
        })
        decision = rec["lagging_decision_after_key_gone_s"]
        say(f"{tag}: leader key gone {rec['key_gone_after_kill_s']:.2f} s after the kill; {lagging.name} spawned "
            f"+{rec['spawn_after_key_gone_s'] * 1000:.0f} ms, its role decision +"
            f"{'?' if decision is None else f'{decision * 1000:.0f} ms'}, its first /healthz +"
            f"{rec['lagging_first_health_after_key_gone_s'] * 1000:.0f} ms; new leader key ({leader.get('node')}, "
            f"epoch {leader.get('epoch')}) +{rec['new_leader_after_key_gone_s'] * 1000:.0f} ms; candidacies "
            f"{watch.candidates or 'none seen'}")
        if decision is not None:
            rec["old_behaviour_would_elect_lagging"] = decision < rec["new_leader_after_key_gone_s"]
            say(f"{tag}: {lagging.name} decided its role "
                + (f"{(rec['new_leader_after_key_gone_s'] - decision) * 1000:.0f} ms before {leader.get('node')} "
                   f"took the key: the node before this change would have campaigned there, with the shorter log"
                   if rec["old_behaviour_would_elect_lagging"] else
                   f"{(decision - rec['new_leader_after_key_gone_s']) * 1000:.0f} ms after the new key was "
                   f"taken (this round does not tell the old behaviour apart)"))

        # 5. The checks. The lagging node's own log ends where it starts following ("following the
        # primary", from_lsn); its first /healthz answer tells the same unless it followed already.
        def following_from():
            try:
                with open(lagging.log_path, "rb") as f:
                    f.seek(log_offset)
                    found = FOLLOWING.search(f.read())
            except OSError:
                return None
            return int(found.group(1)) if found else None

        try:
            lagging_start_lsn = wait_until(f"{lagging.name} to start following", following_from, 5, 0.05)
        except HarnessFailure:
            lagging_start_lsn = first_lsn if winner is lagging else None
        rec["lagging_lsn_at_restart"] = lagging_start_lsn
        self.check(lagging_start_lsn is not None and lagging_start_lsn < advanced_lsn,
                   f"{tag}: {lagging.name}'s log was shorter than {advanced.name}'s (LSN {lagging_start_lsn} at "
                   f"its restart (first /healthz: {first_lsn}), {advanced.name} {advanced_lsn})")
        published = watch.candidates.get(lagging.name)
        if published is not None:
            self.check(published == lagging_start_lsn,
                       f"{tag}: {lagging.name} stood as a candidate with its own LSN ({published})")
        self.check(watch.lagging_took_key_at is None and winner is advanced,
                   f"{tag}: the most advanced standby {advanced.name} was elected (leader key: "
                   f"{leader.get('node')}, epoch {leader.get('epoch')})")
        previous = self.epoch
        self.check(isinstance(leader.get("epoch"), int) and previous is not None and leader["epoch"] == previous + 1,
                   f"{tag}: epoch {previous} -> {leader.get('epoch')}")
        self.epoch = leader.get("epoch") if isinstance(leader.get("epoch"), int) else self.epoch
        new_primary = winner or advanced
        try:
            new_body = wait_until(f"{new_primary.name} to answer /healthz/primary 200",
                                  lambda: (lambda s, b: b if s == 200 and isinstance(b, dict) else None)(
                                      *new_primary.health("primary")), 10, 0.05)
        except HarnessFailure as error:
            new_body = {}
            self.check(False, f"{tag}: {error}")
        rec["new_primary_lsn"] = new_body.get("durable_lsn")
        self.check(new_body.get("epoch") == leader.get("epoch") and new_body.get("node") == leader.get("node")
                   and isinstance(new_body.get("durable_lsn"), int) and new_body["durable_lsn"] >= advanced_lsn,
                   f"{tag}: {new_primary.name} takes writes under epoch {new_body.get('epoch')} with durable_lsn "
                   f"{new_body.get('durable_lsn')} >= {advanced.name}'s {advanced_lsn} before the election")

        # The killed primary comes back (as a standby; it may first set aside writes A never got).
        primary.restart_after_kill()

        # The lagging node follows the new primary and catches up, without a restart.
        new_url = leader.get("url")
        last = {}

        def caught_up():
            status, body, lsn = durable_lsn(lagging)
            _, pbody, plsn = durable_lsn(new_primary)
            last.update(status=status, role=body.get("role") if isinstance(body, dict) else None,
                        primary=body.get("primary") if isinstance(body, dict) else None, lsn=lsn, primary_lsn=plsn)
            return (status == 200 and last["role"] == "standby" and last["primary"] == new_url
                    and lsn is not None and lsn == plsn)

        try:
            wait_until(f"{lagging.name} to catch up", caught_up, 20, 0.1)
            ok = True
        except HarnessFailure:
            ok = False
        rec["lagging_caught_up"] = dict(last)
        restarts = lagging.exits[exits_before:]
        self.check(ok and not restarts,
                   f"{tag}: {lagging.name} is a standby of {new_primary.name} ({new_url}) and reached its "
                   f"durable_lsn {last.get('primary_lsn')} (its own: {last.get('lsn')}, role {last.get('role')}, "
                   f"HTTP {last.get('status')}), exits since its restart: {[e['kind'] for e in restarts] or 'none'}")

        # Every acknowledged booking that reached the advanced standby is on the new primary.
        on_new = reservation_ids(new_primary.port, self.prober.token)
        if on_new is None:
            self.check(False, f"{tag}: could not read the probe bookings on {new_primary.name}")
        else:
            missing = acked_on_advanced - on_new
            rec["acknowledged_missing_on_new_primary"] = len(missing)
            self.check(not missing,
                       f"{tag}: all {len(acked_on_advanced)} acknowledged bookings {advanced.name} held are on "
                       f"{new_primary.name}" + (f" (missing {len(missing)}, e.g. {sorted(missing)[:5]})" if missing else ""))
            say(f"{tag}: {rec['acknowledged_not_on_advanced']} acknowledged booking(s) had not reached "
                f"{advanced.name} when {primary.name} died (async: lost by any election)")
        say(f"{tag}: {primary.name} -> {leader.get('node')} (epoch {leader.get('epoch')}); LSNs: "
            f"{lagging.name} {lagging_start_lsn} < {advanced.name} {advanced_lsn} (old primary "
            f"{rec['primary_lsn_before_kill']}); new primary {rec['new_primary_lsn']}")
        return rec

    # -- report

    def summary(self, error=None):
        c = self.cluster
        print()
        print("=== lagging-restart summary (async) ===")
        print(f"{'round':>5} {'old':<4} {'lag':<4} {'adv':<4} {'won':<4} {'epoch':>5} {'L lsn':>8} {'A lsn':>8} "
              f"{'new lsn':>8} {'L decided':>10} {'A elected':>10}")
        for r in self.rounds:
            d = r.get("lagging_decision_after_key_gone_s")
            print(f"{r['round']:>5} {r['primary']:<4} {r['lagging']:<4} {r['advanced']:<4} {str(r.get('winner')):<4} "
                  f"{str(r.get('epoch')):>5} {str(r.get('lagging_lsn_at_restart')):>8} {str(r.get('advanced_lsn')):>8} "
                  f"{str(r.get('new_primary_lsn')):>8} {'-' if d is None else f'+{d * 1000:.0f} ms':>10} "
                  f"{'+' + format(r['new_leader_after_key_gone_s'] * 1000, '.0f') + ' ms':>10}")
        print("(times after the dead primary's leader key was seen gone; \"L decided\": the restarted lagging node's "
              "role decision, where the node before this change took the key)")
        telling = sum(1 for r in self.rounds if r.get("old_behaviour_would_elect_lagging"))
        stood = sum(1 for r in self.rounds if r["lagging"] in (r.get("candidates") or {}))
        print(f"rounds where the lagging node decided before the new key was taken (the old behaviour would have "
              f"elected it): {telling} of {len(self.rounds)}; where it stood as a candidate and deferred: {stood}")
        if self.rounds and not telling:
            print("note: no round told the old behaviour apart (the restarted node decided after the election; a slow "
                  "machine?)")
        failed = [t for ok, t in self.checks if not ok] + list(c.failures)
        if error:
            failed.append(error)
        passed = not failed and bool(self.checks)
        doc = {"scenario": "lagging-restart", "mode": "async", "passed": passed, "rounds": self.rounds,
               "rounds_telling_the_old_behaviour_apart": telling, "rounds_lagging_node_stood": stood,
               "checks": [{"ok": ok, "check": t} for ok, t in self.checks], "failures": failed,
               "exits": {n.name: n.exits for n in c.nodes}, "starts": {n.name: n.starts for n in c.nodes},
               "runtime_seconds": round(now(), 1), "directory": c.tmp if c.keep else None}
        ha.report(self.args.report_dir, "lagging-restart", doc, passed, c)
        ha.verdict_lines("lagging-restart test", f"{len(self.checks)} checks, {now():.0f} s", passed, failed, c)
        return passed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, help="the dlsms binary")
    parser.add_argument("--rounds", type=int, default=5, help="kill/restart rounds (default 5)")
    parser.add_argument("--report-dir", help="write lagging-restart.json here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (data, logs)")
    args, ignored = parser.parse_known_args()
    if ignored:
        # Tests/ha/run.sh passes its extra options to every run: failover.py's own (--duration,
        # --kills, --restart-delay) mean nothing here.
        say(f"ignoring options of failover.py: {' '.join(ignored)}")
    if not os.access(args.binary, os.X_OK):
        parser.error(f"{args.binary} is not an executable")
    if not shutil.which("etcd"):
        parser.error("etcd is not installed (Debian package etcd-server)")

    test = LaggingRestart(args)
    ha.run_to_the_end(test, test.cluster, 60 + 30 * args.rounds)


if __name__ == "__main__":
    main()
