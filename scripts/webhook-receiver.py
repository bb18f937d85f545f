#!/usr/bin/env python3
"""A webhook receiver for trying DL-SMS's webhooks on this machine: listens on 127.0.0.1:PORT,
checks each delivery's signature with SECRET (and refuses timestamps more than five minutes
off), prints the event, and answers 204 (401 when the signature is wrong).
Usage: scripts/webhook-receiver.py PORT SECRET"""
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT, SECRET = int(sys.argv[1]), sys.argv[2].encode()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            parts = dict(p.split("=", 1) for p in self.headers.get("DLSMS-Signature", "").split(","))
            t = int(parts["t"])
            expected = hmac.new(SECRET, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
            good = hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - t) <= 300
        except (KeyError, ValueError):
            good = False
        event = json.loads(body) if good else None
        print(("verified " if good else "REFUSED ") + (json.dumps(event) if good else body.decode(errors="replace")),
              flush=True)
        self.send_response(204 if good else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", PORT), Receiver).serve_forever()
