#!/usr/bin/env python3
"""Checks a DL-SMS webhook signature the way a receiver would, with Python's hmac (an
implementation independent of the server's). Usage: webhook_verify.py BODY_FILE SIGNATURE SECRET
The signature header is "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>"; a timestamp more
than five minutes from now is refused (replay). Prints "ok" or exits 1."""
import hashlib
import hmac
import sys
import time

body = open(sys.argv[1], "rb").read()
parts = dict(p.split("=", 1) for p in sys.argv[2].split(","))
t = int(parts["t"])
expected = hmac.new(sys.argv[3].encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
if not hmac.compare_digest(expected, parts["v1"]):
    sys.exit("bad signature")
if abs(time.time() - t) > 300:
    sys.exit("stale timestamp")
print("ok")
