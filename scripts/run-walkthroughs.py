#!/usr/bin/env python3
"""Runs the walkthroughs of README.md and docs/*.md as written, and fails on the first error.

A walkthrough is one or more ```sh blocks, each preceded by a marker line

    <!-- walkthrough: NAME -->            the block runs as it is (it starts its own server)
    <!-- walkthrough: NAME server=demo --> a `dlsms serve` with the demo data runs first, as after
                                           the README's set-up command

Blocks of one NAME run in the order of the files (README.md, then docs/ by name) and of the
text, in one bash session (`set -euo pipefail`) from the top of the checkout, as a reader runs
them: variables carry from one block to the next. Other blocks are illustrations and are not run.
Each walkthrough gets a temporary directory ($WORK: its data directories and files), a free
loopback port ($PORT; the blocks default to 8080 when run by hand) and the binary as $DLSMS
(default .build/debug/dlsms: `swift build` first). Whatever a walkthrough started is killed at its
end (its process group), its directory removed, and a walkthrough that changed the checkout
(`git status`) fails.

    python3 scripts/run-walkthroughs.py [--list] [NAME…]
"""

import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- walkthrough: ([\w-]+)((?: [\w-]+=[\w-]+)*) -->$")
LIMIT = 120  # seconds a walkthrough may take


def walkthroughs():
    """{name: {"blocks": [(file, line, text)], "options": {…}}}, in document order."""
    found = {}
    files = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    for path in files:
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            m = MARKER.match(lines[i].strip())
            if not m:
                i += 1
                continue
            if i + 1 >= len(lines) or lines[i + 1].strip() not in ("```sh", "```bash"):
                sys.exit(f"{path.relative_to(ROOT)}:{i + 1}: a walkthrough marker must precede a ```sh block")
            end = i + 2
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            entry = found.setdefault(m.group(1), {"blocks": [], "options": {}})
            for option in m.group(2).split():
                key, value = option.split("=")
                entry["options"][key] = value
            entry["blocks"].append((path.relative_to(ROOT), i + 3, "\n".join(lines[i + 2:end])))
            i = end + 1
    return found


def checkout_state():
    return subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "--", ".", ":!.build"],
                          cwd=ROOT, capture_output=True, text=True).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return True
        except Exception:
            time.sleep(0.1)
    return False


def run(name, entry, binary):
    work = tempfile.mkdtemp(prefix=f"walkthrough-{name}-")
    port = free_port()
    env = dict(os.environ, DLSMS=binary, PORT=str(port), WORK=work, URL=f"http://127.0.0.1:{port}")
    env.pop("ADMIN_PASSWORD", None)
    script = ["set -euo pipefail"]
    for path, line, text in entry["blocks"]:
        script.append(f"echo '--- {path}:{line}' >&2")
        script.append(text)
    demo = None
    started = time.monotonic()
    try:
        if entry["options"].get("server") == "demo":
            demo = subprocess.Popen(
                [binary, "serve", "--port", str(port), "--grpc-port", "0", "--data-dir", f"{work}/demo-data",
                 "--bcrypt-cost", "4", "--log-level", "warning"],
                stdout=open(f"{work}/demo-server.log", "w"), stderr=subprocess.STDOUT, cwd=work,
                start_new_session=True)
            if not wait_for(env["URL"], demo, time.monotonic() + 60):
                print(open(f"{work}/demo-server.log").read(), file=sys.stderr)
                return f"{name}: the demo server did not start"
        before = checkout_state()
        proc = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=ROOT, env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            output, _ = proc.communicate(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            return f"{name}: did not finish in {LIMIT} s\n{output}"
        finally:
            # Whatever the walkthrough left running (a server, a listener) goes with its group.
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        print(output, end="" if output.endswith("\n") or not output else "\n")
        if proc.returncode != 0:
            logs = "".join(f"\n{log}:\n{log.read_text()}" for log in pathlib.Path(work).glob("*.log"))
            return f"{name}: failed (exit {proc.returncode}){logs}"
        after = checkout_state()
        if after != before:
            return f"{name}: changed the checkout:\n{after}"
        print(f"ok {name} ({time.monotonic() - started:.1f} s)")
        return None
    finally:
        if demo is not None:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(20)
        shutil.rmtree(work, ignore_errors=True)


def main(args):
    found = walkthroughs()
    if "--list" in args:
        for name, entry in found.items():
            print(name, *[f"{p}:{line}" for p, line, _ in entry["blocks"]])
        return 0
    binary = os.path.abspath(os.environ.get("DLSMS", str(ROOT / ".build" / "debug" / "dlsms")))
    if not os.access(binary, os.X_OK):
        print(f"{binary} is missing: swift build first", file=sys.stderr)
        return 1
    wanted = [a for a in args if not a.startswith("-")] or list(found)
    failures = []
    for name in wanted:
        if name not in found:
            failures.append(f"{name}: no such walkthrough")
            continue
        print(f"== {name}")
        failure = run(name, found[name], binary)
        if failure:
            print(failure, file=sys.stderr)
            failures.append(name)
    if failures:
        print("failed: " + ", ".join(failures), file=sys.stderr)
        return 1
    print(f"{len(wanted)} walkthroughs ran")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
