#!/usr/bin/env python3
"""Gives each benchmark student a confirmed email address, the way a student does it: POST
/me/email, then the link in the confirmation email the test relay received.
    python3 Benchmarks/mail_setup.py BASE TOKENS_FILE RELAY_MAILDIR
"""
import email
import email.policy
import json
import os
import re
import sys
import time
import urllib.request as u


def call(method, url, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    with u.urlopen(u.Request(url, data=data, headers=headers, method=method)) as r:
        return r.status


base, tokens, maildir = sys.argv[1], open(sys.argv[2]).read().split(), sys.argv[3]
for i, token in enumerate(tokens):
    before = set(os.listdir(maildir))
    assert call("POST", base + "/me/email", token, {"address": "bench%d@example.edu" % i}) == 202
    deadline = time.time() + 60
    while True:
        new = [f for f in set(os.listdir(maildir)) - before if f.endswith(".eml")]
        if new:
            break
        if time.time() > deadline:
            sys.exit("no confirmation email arrived")
        time.sleep(0.05)
    with open(os.path.join(maildir, new[0]), "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"/mail/confirm\?t=([A-Za-z0-9_-]+)", text).group(1)
    assert u.urlopen(u.Request(base + "/mail/confirm?t=" + link, data=b"", method="POST")).status == 200
print("confirmed %d addresses" % len(tokens), file=sys.stderr)
