#!/usr/bin/env python3
"""Runs the original DL-SMS gRPC client (client_test.py), unchanged, against a dlsms server.

    grpc_original_client.py CLIENT_TEST.PY STUBS_DIR HOST:PORT

The file is read as it is and run with its channel address ('localhost:9090') substituted at load
time; nothing else of it changes. Its output is checked line by line: the script prints errors and
still exits 0, so this wrapper fails on any error line and requires the success line of every step.
"""
import contextlib
import io
import sys

client_path, stubs, address = sys.argv[1:4]
sys.path.insert(0, stubs)
source = open(client_path, encoding="utf-8").read()
assert source.count("'localhost:9090'") >= 1, "the client no longer names localhost:9090"
source = source.replace("'localhost:9090'", repr(address))

out = io.StringIO()
with contextlib.redirect_stdout(out):
    exec(compile(source, client_path, "exec"), {"__name__": "__main__"})
text = out.getvalue()
print(text)

errors = [l for l in text.splitlines() if "Error" in l or "ERROR" in l or "Unexpected error" in l or "failed" in l]
required = [
    "Login successful!",
    "available seats",
    "seats in Main Library with power",
    "branches:",
    "Reservation created successfully!",
    "Conflict detected correctly:",
    "Reservation details:",
    "upcoming reservations",
    "Reservation cancelled successfully!",
    "New status: CANCELLED",
    "Added to waitlist successfully!",
    "waitlist entries",
    "Removed from waitlist:",
    "Created reservation for immediate check-in:",
    "Checked in successfully!",
    "Status: CHECKED_IN",
    "All tests completed!",
]
missing = [r for r in required if r not in text]
if errors or missing:
    for l in errors:
        print("error line:", l, file=sys.stderr)
    for r in missing:
        print("missing success line:", r, file=sys.stderr)
    sys.exit(1)
print("the original gRPC client passed every step")
