#!/usr/bin/env python3
# backend.py: the test backend for portico's proxy tests (Python 3 standard library only).
#
#   python3 t/lib/backend.py --port N [--id NAME] [--mode MODE ...]
#                            [--keepalive-close-after MS]
#
# Listens on 127.0.0.1:N, prints "ready" on stdout once listening, serves every connection in
# its own thread with HTTP/1.1 keep-alive, and stops on SIGTERM. Paths:
#   /__stats            JSON {"connections": n, "requests": m} (/__ requests are not counted,
#                       nor connections that only carried /__ requests)
#   /__log              JSON list of [method, target] of every counted request (last 10000)
#   /__reset            zeroes the counters and the log
#   /echo, /echo/...    JSON {method, path (raw target), version, headers [[n, v]...],
#                       body_sha256, body_length, id}
#   /id                 the backend id as the body
#   /sleep?ms=N         sleeps N ms, then answers the id
#   /bytes?n=N          N deterministic bytes (byte i = i % 251) with Content-Length
#   /chunked?n=N        the same bytes, chunked
#   /close?n=N          the same bytes delimited by connection close (no length)
#   /status?code=N      status N (no body for 1xx/204/304)
#   /upload             reads the body (Content-Length or chunked), JSON {sha256, length, id}
#   /hop                a response with hop-by-hop headers (Connection: X-Hop, X-Hop, Keep-Alive)
#   /ws                 WebSocket handshake, then echoes every frame (unmasked) until close
#   /bad/status-line    a malformed status line
#   /bad/both-cl-te     Content-Length and Transfer-Encoding together
#   /bad/cl-mismatch    declares 1000 bytes, sends 10, closes
#   /bad/close-mid-body chunked, one chunk, then closes
#   /bad/huge-header    a 64 KiB response header
#   /bad/bad-header     a header name with a space in it
#   /bad/reset          reads the request, then resets the connection (SO_LINGER 0)
#   /bad/no-response    reads the request, closes without answering
# Every answer carries "Server: backend-ID" and "X-Backend-Id: ID".
# Modes (--mode, repeatable): "reset" resets every connection once its first request head
# arrived (connections carrying /__ requests are served, so stats stay readable);
# "sleep=MS" delays every counted answer by MS ms; any other MODE makes every counted request
# behave as /bad/MODE (e.g. --mode no-response).
# --keepalive-close-after MS closes a keep-alive connection idle for MS ms.
# --listen ADDR (repeatable) also serves on ADDR: "unix:/path" (mode 0777) or "[v6]:PORT" /
# "IP:PORT"; the control port (--port, 127.0.0.1) keeps serving too. /__stats then also has
# "by_listener": {ADDR: counted connections}.
# /__stats also has "open" (counted connections open now, not reset) and "peer_closed"
# (counted connections the client closed, at a request boundary or mid-request).
# --peer-pids: /__stats also has "peer_pids": {PID: counted connections}, the process that
# owns the client end of each counted connection (SO_PEERCRED, or /proc for TCP loopback).
# /close-header answers the id with "Connection: close" but keeps the connection open.

import argparse
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from urllib.parse import urlsplit, parse_qs

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PATTERN = bytes(i % 251 for i in range(251 * 256))

LOCK = threading.Lock()
STATS = {"connections": 0, "requests": 0, "open": 0, "peer_closed": 0}
LOG = []
ARGS = None


class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.peer_closed = False

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.peer_closed = True
            raise Closed()
        self.buf += data

    def read_head(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = self.buf[:i]
                self.buf = self.buf[i + 4:]
                return head
            if len(self.buf) > limit:
                raise Closed()
            self.fill()

    def read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = self.buf[:i]
                self.buf = self.buf[i + 2:]
                return line
            if len(self.buf) > 65536:
                raise Closed()
            self.fill()

    def read_exact(self, n, sink):
        while n > 0:
            if not self.buf:
                self.fill()
            take = self.buf[:n]
            self.buf = self.buf[len(take):]
            n -= len(take)
            sink(take)

    def send(self, data):
        self.sock.sendall(data)


def pattern_bytes(n, offset=0):
    """n bytes of the deterministic pattern starting at offset."""
    out = []
    while n > 0:
        start = offset % len(PATTERN)
        part = PATTERN[start:start + n]
        out.append(part)
        n -= len(part)
        offset += len(part)
    return b"".join(out)


def read_body(conn, headers):
    h = hashlib.sha256()
    total = [0]

    def sink(b):
        h.update(b)
        total[0] += len(b)

    te = [v for n, v in headers if n.lower() == "transfer-encoding"]
    cl = [v for n, v in headers if n.lower() == "content-length"]
    if te and te[-1].strip().lower().endswith("chunked"):
        while True:
            line = conn.read_line()
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while conn.read_line() != b"":
                    pass
                break
            conn.read_exact(size, sink)
            conn.read_line()
    elif cl:
        conn.read_exact(int(cl[0].strip()), sink)
    return h.hexdigest(), total[0]


def respond(conn, status, reason, headers, body=b"", head_only=False, close=False):
    lines = ["HTTP/1.1 %d %s" % (status, reason),
             "Server: backend-%s" % ARGS.id,
             "X-Backend-Id: %s" % ARGS.id]
    for n, v in headers:
        lines.append("%s: %s" % (n, v))
    if body is not None and status not in (204, 304) and status >= 200:
        if not any(n.lower() == "content-length" for n, _ in headers):
            lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body and not head_only and status not in (204, 304):
        data += body
    conn.send(data)


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def websocket(conn, headers):
    key = ""
    for n, v in headers:
        if n.lower() == "sec-websocket-key":
            key = v.strip()
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    conn.send(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
               "Server: backend-%s\r\n\r\n" % (accept, ARGS.id)).encode())
    while True:
        while len(conn.buf) < 2:
            conn.fill()
        b0, b1 = conn.buf[0], conn.buf[1]
        opcode = b0 & 0x0F
        masked = b1 & 0x80
        ln = b1 & 0x7F
        pos = 2
        if ln == 126:
            while len(conn.buf) < 4:
                conn.fill()
            ln = struct.unpack(">H", conn.buf[2:4])[0]
            pos = 4
        elif ln == 127:
            while len(conn.buf) < 10:
                conn.fill()
            ln = struct.unpack(">Q", conn.buf[2:10])[0]
            pos = 10
        mask = b""
        if masked:
            while len(conn.buf) < pos + 4:
                conn.fill()
            mask = conn.buf[pos:pos + 4]
            pos += 4
        if ln > (16 << 20):
            raise Closed()
        while len(conn.buf) < pos + ln:
            conn.fill()
        payload = conn.buf[pos:pos + ln]
        conn.buf = conn.buf[pos + ln:]
        if masked:
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        if ln < 126:
            hdr = bytes([0x80 | opcode, ln])
        elif ln < 65536:
            hdr = bytes([0x80 | opcode, 126]) + struct.pack(">H", ln)
        else:
            hdr = bytes([0x80 | opcode, 127]) + struct.pack(">Q", ln)
        if opcode == 0x9:       # ping -> pong
            hdr = bytes([0x8A]) + hdr[1:]
        conn.send(hdr + payload)
        if opcode == 0x8:
            raise Closed()


def handle_request(conn, method, target, version, headers):
    """Answers one request; returns True to keep the connection open."""
    url = urlsplit(target)
    path = url.path
    q = parse_qs(url.query)

    def qint(name, dflt=0):
        try:
            return int(q.get(name, [str(dflt)])[0])
        except ValueError:
            return dflt

    conn_hdr = ",".join(v for n, v in headers if n.lower() == "connection").lower()
    if version == "HTTP/1.0":
        keep = "keep-alive" in conn_hdr
    else:
        keep = "close" not in conn_hdr
    head_only = method == "HEAD"
    internal = path.startswith("/__")

    if not internal:
        with LOCK:
            STATS["requests"] += 1
            LOG.append([method, target])
            del LOG[:-10000]
        for m in ARGS.mode:
            if m.startswith("sleep="):
                time.sleep(int(m[6:]) / 1000.0)
            elif m != "reset":
                path = "/bad/" + m

    if path == "/bad/no-response" or path == "/bad/reset":
        # read what was sent of the body first (bounded), then misbehave
        try:
            conn.sock.settimeout(0.2)
            read_body(conn, headers)
        except Exception:
            pass
        if path == "/bad/reset":
            reset(conn.sock)
        raise Closed()

    sha, length = read_body(conn, headers)

    if path == "/__stats":
        with LOCK:
            body = json.dumps(STATS).encode()
        respond(conn, 200, "OK", [("Content-Type", "application/json")], body, head_only)
    elif path == "/__log":
        with LOCK:
            body = json.dumps(LOG).encode()
        respond(conn, 200, "OK", [("Content-Type", "application/json")], body, head_only)
    elif path == "/__reset":
        with LOCK:
            STATS["connections"] = 0
            STATS["requests"] = 0
            STATS["peer_closed"] = 0
            for k in ("by_listener", "peer_pids"):
                if k in STATS:
                    STATS[k] = {}
            del LOG[:]
        respond(conn, 200, "OK", [], b"reset\n", head_only)
    elif path == "/echo" or path.startswith("/echo/"):
        body = json.dumps({"method": method, "path": target, "version": version,
                           "headers": [[n, v] for n, v in headers],
                           "body_sha256": sha, "body_length": length,
                           "id": ARGS.id}).encode()
        respond(conn, 200, "OK", [("Content-Type", "application/json")], body, head_only)
    elif path == "/upload":
        body = json.dumps({"sha256": sha, "length": length, "id": ARGS.id,
                           "method": method}).encode()
        respond(conn, 200, "OK", [("Content-Type", "application/json")], body, head_only)
    elif path == "/id":
        respond(conn, 200, "OK", [], ARGS.id.encode(), head_only)
    elif path == "/close-header":
        respond(conn, 200, "OK", [], ARGS.id.encode(), head_only, close=True)
    elif path == "/sleep":
        time.sleep(qint("ms") / 1000.0)
        respond(conn, 200, "OK", [], ARGS.id.encode(), head_only)
    elif path == "/bytes":
        respond(conn, 200, "OK", [("Content-Type", "application/octet-stream")],
                pattern_bytes(qint("n")), head_only)
    elif path == "/chunked":
        n = qint("n")
        conn.send(("HTTP/1.1 200 OK\r\nServer: backend-%s\r\nX-Backend-Id: %s\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n" % (ARGS.id, ARGS.id)).encode())
        if not head_only:
            off = 0
            while off < n:
                part = pattern_bytes(min(16384, n - off), off)
                conn.send(b"%x\r\n" % len(part) + part + b"\r\n")
                off += len(part)
            conn.send(b"0\r\n\r\n")
    elif path == "/close":
        n = qint("n")
        conn.send(("HTTP/1.1 200 OK\r\nServer: backend-%s\r\nX-Backend-Id: %s\r\n"
                   "Connection: close\r\n\r\n" % (ARGS.id, ARGS.id)).encode())
        if not head_only:
            off = 0
            while off < n:
                part = pattern_bytes(min(65536, n - off), off)
                conn.send(part)
                off += len(part)
        raise Closed()
    elif path == "/status":
        code = qint("code", 200)
        body = b"" if code in (204, 304) or code < 200 else ("status %d\n" % code).encode()
        respond(conn, code, "Status", [], body, head_only)
    elif path == "/hop":
        respond(conn, 200, "OK", [("Connection", "X-Hop"), ("X-Hop", "1"),
                                  ("Keep-Alive", "timeout=5"), ("X-Kept", "1")],
                b"hop\n", head_only)
    elif path == "/ws":
        up = ",".join(v for n, v in headers if n.lower() == "upgrade").lower()
        if "websocket" not in up:
            respond(conn, 426, "Upgrade Required", [], b"no upgrade\n", head_only)
        else:
            websocket(conn, headers)
            raise Closed()
    elif path == "/bad/status-line":
        conn.send(b"HTTP/1.1 abc Nope\r\nContent-Length: 2\r\n\r\nok")
        raise Closed()
    elif path == "/bad/both-cl-te":
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n")
        raise Closed()
    elif path == "/bad/cl-mismatch":
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
        time.sleep(0.1)
        raise Closed()
    elif path == "/bad/close-mid-body":
        conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"a\r\n0123456789\r\n")
        time.sleep(0.1)
        raise Closed()
    elif path == "/bad/huge-header":
        conn.send(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 65536 +
                  b"\r\nContent-Length: 2\r\n\r\nok")
        raise Closed()
    elif path == "/bad/bad-header":
        conn.send(b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok")
        raise Closed()
    else:
        respond(conn, 404, "Not Found", [], b"backend: no such path\n", head_only)
    return keep


def peer_pid(sock):
    """The pid owning the client end of sock (loopback TCP or unix), or 0."""
    try:
        if sock.family == socket.AF_UNIX:
            cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                   struct.calcsize("3i"))
            return struct.unpack("3i", cred)[0]
        lport = sock.getsockname()[1]
        rport = sock.getpeername()[1]
        inode = None
        for f in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                lines = open(f).read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fl = line.split()
                if (int(fl[1].rsplit(":", 1)[1], 16) == rport
                        and int(fl[2].rsplit(":", 1)[1], 16) == lport):
                    inode = fl[9]
        if inode is None:
            return 0
        want = "socket:[%s]" % inode
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        # portico's processes first: a scan of every process's descriptors per
        # connection cost whole seconds of CPU in tests that open many connections
        first = [p for p in pids if proc_comm(p).startswith("portico")]
        for pid in first + [p for p in pids if p not in first]:
            if socket_owned_by(pid, want):
                return int(pid)
    except OSError:
        pass
    return 0


def proc_comm(pid):
    try:
        with open("/proc/%s/comm" % pid) as f:
            return f.read()
    except OSError:
        return ""


def socket_owned_by(pid, want):
    try:
        for fd in os.listdir("/proc/%s/fd" % pid):
            if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == want:
                return True
    except OSError:
        pass
    return False


def serve(sock, listener=None):
    conn = Conn(sock)
    counted = False
    try:
        while True:
            idle = ARGS.keepalive_close_after / 1000.0 if ARGS.keepalive_close_after else 60
            sock.settimeout(idle)
            try:
                head = conn.read_head()
            except socket.timeout:
                return
            sock.settimeout(60)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                respond(conn, 400, "Bad Request", [], b"bad request line\n", close=True)
                return
            method, target, version = parts
            headers = []
            for line in lines[1:]:
                n, _, v = line.partition(":")
                headers.append((n, v.strip(" \t")))
            if not counted and not urlsplit(target).path.startswith("/__"):
                counted = True
                pid = peer_pid(sock) if ARGS.peer_pids else 0
                with LOCK:
                    STATS["connections"] += 1
                    STATS["open"] += 1
                    if listener is not None:
                        bl = STATS.setdefault("by_listener", {})
                        bl[listener] = bl.get(listener, 0) + 1
                    if ARGS.peer_pids:
                        pp = STATS.setdefault("peer_pids", {})
                        pp[str(pid)] = pp.get(str(pid), 0) + 1
                if "reset" in ARGS.mode:
                    reset(sock)
                    return
            if not handle_request(conn, method, target, version, headers):
                return
    except (Closed, OSError, ValueError):
        return
    finally:
        if counted:
            with LOCK:
                STATS["open"] -= 1
                if conn.peer_closed:
                    STATS["peer_closed"] += 1
        try:
            sock.close()
        except OSError:
            pass


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--id", default="b")
    ap.add_argument("--mode", action="append", default=[])
    ap.add_argument("--keepalive-close-after", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--listen", action="append", default=[])
    ap.add_argument("--peer-pids", action="store_true")
    ARGS = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    ls = socket.socket(socket.AF_INET6 if ":" in ARGS.host else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ARGS.host, ARGS.port))
    ls.listen(512)
    for addr in ARGS.listen:
        if ARGS.listen and "by_listener" not in STATS:
            STATS["by_listener"] = {}
        if addr.startswith("unix:"):
            path = addr[5:]
            if os.path.exists(path):
                os.unlink(path)
            xs = socket.socket(socket.AF_UNIX)
            xs.bind(path)
            os.chmod(path, 0o777)
        else:
            host, _, port = addr.rpartition(":")
            host = host.strip("[]")
            xs = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            xs.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            xs.bind((host, int(port)))
        xs.listen(512)
        threading.Thread(target=accept_loop, args=(xs, addr), daemon=True).start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        s, _ = ls.accept()
        t = threading.Thread(target=serve, args=(s,), daemon=True)
        t.start()


def accept_loop(xs, name):
    while True:
        s, _ = xs.accept()
        threading.Thread(target=serve, args=(s, name), daemon=True).start()


if __name__ == "__main__":
    main()
