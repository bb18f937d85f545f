#!/usr/bin/env python3
"""A real SMTP server for DL-SMS's mail tests: Python's aiosmtpd on loopback, with STARTTLS
(required before anything else) and AUTH PLAIN/LOGIN, writing each message it takes to
DIR/<n>.eml. Prints "port N" once it listens, then runs until stdin closes or it is killed.

Fault injection for the retry tests:
  --temp-fail N      the first N messages get 451 after DATA (then messages are taken)
  --reject ADDRESS   RCPT TO this address gets 550
  --hang-after-data  never answers the end of DATA (a relay that stalls mid-dialogue)
  --store-then-hang  keeps the message, then never answers (the sender cannot know it arrived)
Runs until it is sent SIGTERM or SIGKILL.
"""
import argparse
import asyncio
import os
import socket
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, args):
        self.args = args
        self.count = 0
        self.temp_failures = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.args.reject and address == self.args.reject:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.args.hang_after_data:
            await asyncio.sleep(3600)
        with self.lock:
            if self.temp_failures < self.args.temp_fail:
                self.temp_failures += 1
                return "451 4.3.0 try again later"
            self.count += 1
            n = self.count
        path = os.path.join(self.args.maildir, "%06d.eml" % n)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-From: " + envelope.mail_from.encode() + b"\r\n")
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(b"X-Authenticated: " + str(session.authenticated).encode() + b"\r\n")
            f.write(b"X-TLS: " + str(session.ssl is not None).encode() + b"\r\n")
            f.write(envelope.original_content)
        os.rename(tmp, path)
        if self.args.store_then_hang:
            await asyncio.sleep(3600)
        return "250 2.0.0 queued as %d" % n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--maildir", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--user", default="dlsms")
    p.add_argument("--password", default="s3cret")
    p.add_argument("--temp-fail", type=int, default=0)
    p.add_argument("--reject", default=None)
    p.add_argument("--hang-after-data", action="store_true")
    p.add_argument("--store-then-hang", action="store_true")
    args = p.parse_args()
    os.makedirs(args.maildir, exist_ok=True)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == args.user.encode() \
            and auth_data.password == args.password.encode()
        return AuthResult(success=ok)

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    controller = Controller(
        Handler(args), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=authenticate, auth_require_tls=True, auth_exclude_mechanism=["CRAM-MD5"],
        server_hostname="localhost")
    controller.start()
    print("port %d" % port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
