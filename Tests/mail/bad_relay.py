#!/usr/bin/env python3
"""Relays that misbehave, for the SMTP client's tests. Prints "port N" once it listens, serves one
connection at a time, runs until killed.
    endless     a greeting that never ends: "220-xxxx…" lines, as fast as they are read
    trickle     a greeting line every 0.5 s, never the last one
    inject      offers STARTTLS and answers it with "220" and, in the same packet, a forged EHLO
                reply (what an attacker on the path would add before the handshake)
    nostarttls  a plain relay that does not offer STARTTLS
    silent      accepts the connection and never says anything
"""
import socket
import sys
import threading
import time


def serve(conn, mode):
    f = conn.makefile("rb")
    try:
        if mode == "endless":
            line = b"220-" + b"x" * 1000 + b"\r\n"
            while True:
                conn.sendall(line * 16)
        if mode == "trickle":
            while True:
                conn.sendall(b"220-still here\r\n")
                time.sleep(0.5)
        if mode == "silent":
            time.sleep(3600)
        conn.sendall(b"220 relay ready\r\n")
        while True:
            line = f.readline()
            if not line:
                return
            verb = line.split(b" ")[0].strip().upper()
            if verb == b"EHLO":
                extra = b"250-STARTTLS\r\n" if mode == "inject" else b""
                conn.sendall(b"250-relay\r\n" + extra + b"250 AUTH PLAIN LOGIN\r\n")
            elif verb == b"STARTTLS":
                conn.sendall(b"220 go ahead\r\n250-injected\r\n250 AUTH XINJECTED\r\n")
                time.sleep(5)
                return
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")
    except OSError:
        return
    finally:
        conn.close()


def main():
    mode = sys.argv[1]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    print("port %d" % s.getsockname()[1], flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


if __name__ == "__main__":
    main()
