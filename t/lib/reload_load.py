#!/usr/bin/env python3
# reload_load.py: the client load of t/reload_zero_loss.t and `scripts/bench reload`
# (Python 3 standard library only). Runs, for --duration seconds against 127.0.0.1:--port:
#   --keepalive N  clients on keep-alive connections (a new connection only after the server
#                  said Connection: close or closed after a complete response),
#   --per-request N clients opening a new connection per request (Connection: close),
#   --ws N         WebSocket sessions through /ws, one message echoed every 100 ms.
# Requests: GET /gen (a `return` route whose body names the configuration generation) and
# GET /bytes?n=128, with GET /bytes?n=1048576 every --big-every requests (proxied to the test
# backends; every byte is checked against the backend's pattern). With --check-gen, every
# response must carry one X-Gen header, a /gen body "gen N" equal to it, and a proxied
# response must come from a backend that generation's upstream lists (gen % 3: 0 -> a,
# 1 -> a and b, 2 -> b): each response wholly from one configuration.
# Prints one JSON object: requests, ok, non2xx, errors (socket errors and responses cut or
# malformed, by kind), mixed (answers not wholly from one configuration), gens (generations
# seen), ws_messages, ws_errors, and the first few error descriptions.

import argparse
import base64
import json
import os
import random
import socket
import struct
import threading
import time

PATTERN = bytes(i % 251 for i in range(251 * 256))
LOCK = threading.Lock()
R = {"requests": 0, "ok": 0, "non2xx": 0, "errors": {}, "mixed": 0, "gens": set(),
     "ws_messages": 0, "ws_errors": 0, "samples": []}
ARGS = None
BACKENDS = {0: {"a"}, 1: {"a", "b"}, 2: {"b"}}


def pattern(n):
    out = bytearray()
    while len(out) < n:
        out += PATTERN[:n - len(out)]
    return bytes(out)


SMALL, BIG = pattern(128), None


class Cut(Exception):
    pass


def note(key, what=None):
    with LOCK:
        if key in ("ok", "non2xx", "mixed", "ws_messages", "ws_errors"):
            R[key] += 1
        else:
            R["errors"][key] = R["errors"].get(key, 0) + 1
        if what and len(R["samples"]) < 10:
            R["samples"].append(what)


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise Cut("eof")
        self.buf += data

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n\r\n")
        head, self.buf = self.buf[:i].decode("latin-1"), self.buf[i + 4:]
        return head

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n")
        out, self.buf = self.buf[:i], self.buf[i + 2:]
        return out


def read_response(rd):
    """(status, headers dict of lists, body). Raises Cut when the response is incomplete."""
    lines = rd.head().split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise Cut("bad status line")
    status = int(parts[1])
    h = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        h.setdefault(k.strip().lower(), []).append(v.strip())
    if "content-length" in h:
        body = rd.exact(int(h["content-length"][0]))
    elif "chunked" in ",".join(h.get("transfer-encoding", [])).lower():
        body = b""
        while True:
            size = int(rd.line().split(b";")[0], 16)
            if size == 0:
                while rd.line() != b"":
                    pass
                break
            body += rd.exact(size)
            rd.exact(2)
    else:
        body = b""
        try:
            while True:
                rd.fill()
        except Cut:
            pass
        body, rd.buf = rd.buf, b""
    return status, h, body


def check(path, status, h, body):
    if status < 200 or status > 299:
        note("non2xx", "%s -> %d" % (path, status))
        return
    want = None
    if path.startswith("/bytes"):
        want = SMALL if path.endswith("=128") else BIG
        if body != want:
            note("bad body", "%s: %d bytes, not the pattern" % (path, len(body)))
            return
    if ARGS.check_gen:
        gens = h.get("x-gen", [])
        if len(gens) != 1:
            note("mixed", "%s: X-Gen %r" % (path, gens))
            return
        g = int(gens[0])
        with LOCK:
            R["gens"].add(g)
        if path == "/gen" and body != b"gen %d\n" % g:
            note("mixed", "/gen body %r with X-Gen %d" % (body, g))
            return
        if want is not None:
            bid = (h.get("x-backend-id") or ["?"])[0]
            if bid not in BACKENDS[g % 3]:
                note("mixed", "%s from backend %s with X-Gen %d" % (path, bid, g))
                return
    note("ok")


def connect():
    s = socket.create_connection(("127.0.0.1", ARGS.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def pick(n):
    if ARGS.big_every and n % ARGS.big_every == ARGS.big_every - 1:
        return "/bytes?n=1048576"
    return "/gen" if n % 2 == 0 else "/bytes?n=128"


def keepalive_client(deadline, idx):
    sock, rd, reused, n = None, None, False, idx
    while time.time() < deadline:
        path = pick(n)
        n += 1
        try:
            if sock is None:
                sock, reused = connect(), False
                rd = Reader(sock)
            sock.sendall(("GET %s HTTP/1.1\r\nHost: load\r\n\r\n" % path).encode())
            with LOCK:
                R["requests"] += 1
            try:
                status, h, body = read_response(rd)
            except Cut as e:
                kind = ("closed before any response byte (reused connection)"
                        if reused and not rd.buf else "response cut: %s" % e)
                note(kind, "%s: %s" % (path, kind))
                sock.close()
                sock = None
                continue
            check(path, status, h, body)
            if "close" in ",".join(h.get("connection", [])).lower():
                sock.close()
                sock = None
            else:
                reused = True
        except (OSError, ValueError) as e:
            note("socket error: %s" % type(e).__name__, "%s: %s" % (path, e))
            if sock is not None:
                sock.close()
            sock = None
    if sock is not None:
        sock.close()


def per_request_client(deadline, idx):
    n = idx
    while time.time() < deadline:
        path = pick(n)
        n += 1
        try:
            sock = connect()
            try:
                sock.sendall(("GET %s HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n"
                              % path).encode())
                with LOCK:
                    R["requests"] += 1
                try:
                    status, h, body = read_response(Reader(sock))
                except Cut as e:
                    note("response cut: %s" % e, "%s: %s" % (path, e))
                    continue
                check(path, status, h, body)
            finally:
                sock.close()
        except (OSError, ValueError) as e:
            note("socket error: %s" % type(e).__name__, "%s: %s" % (path, e))


def ws_frame(payload):
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def ws_client(deadline, idx):
    try:
        sock = connect()
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(("GET /ws HTTP/1.1\r\nHost: load\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
        rd = Reader(sock)
        head = rd.head()
        if not head.startswith("HTTP/1.1 101"):
            note("ws_errors", "ws handshake: %s" % head.split("\r\n")[0])
            return
        i = 0
        while time.time() < deadline:
            msg = ("ws %d %d" % (idx, i)).encode()
            i += 1
            sock.sendall(ws_frame(msg))
            b0, b1 = rd.exact(2)
            data = rd.exact(b1 & 0x7f)
            if data != msg:
                note("ws_errors", "ws echo %r for %r" % (data, msg))
                return
            note("ws_messages")
            time.sleep(0.1)
        sock.sendall(bytes([0x88, 0x80]) + os.urandom(4))
        sock.close()
    except (OSError, Cut, ValueError) as e:
        note("ws_errors", "ws: %s" % e)


def main():
    global ARGS, BIG
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--keepalive", type=int, default=50)
    ap.add_argument("--per-request", type=int, default=10)
    ap.add_argument("--ws", type=int, default=5)
    ap.add_argument("--big-every", type=int, default=20)
    ap.add_argument("--check-gen", action="store_true")
    ap.add_argument("--ready-file", default=None)
    ARGS = ap.parse_args()
    BIG = pattern(1048576)
    deadline = time.time() + ARGS.duration
    threads = []
    for i in range(ARGS.keepalive):
        threads.append(threading.Thread(target=keepalive_client, args=(deadline, i)))
    for i in range(ARGS.per_request):
        threads.append(threading.Thread(target=per_request_client, args=(deadline, i)))
    for i in range(ARGS.ws):
        threads.append(threading.Thread(target=ws_client, args=(deadline, i)))
    for t in threads:
        t.daemon = True
        t.start()
    if ARGS.ready_file:
        open(ARGS.ready_file, "w").close()
    for t in threads:
        t.join(max(0.1, deadline - time.time() + 15))
    with LOCK:
        out = dict(R)
        out["gens"] = sorted(R["gens"])
        out["unfinished_threads"] = sum(1 for t in threads if t.is_alive())
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    random.seed(1)
    main()
