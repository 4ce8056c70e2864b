#!/usr/bin/env python3
# cache_backend.py: a scriptable origin for the cache tests (Python 3 standard library only).
#
#   python3 t/lib/cache_backend.py --port N [--id NAME]
#
# Listens on 127.0.0.1:N, prints "ready" once listening, serves each connection in its own
# thread with HTTP/1.1 keep-alive, stops on SIGTERM. Every request whose path does not start
# with /__ is COUNTED per request target (path and query as sent) and its method and headers
# are recorded. How a target is answered is set by the test (t/lib/PorticoCacheBackend.pm):
#
#   POST /__set     body {"target": T, "spec": {...}}   the answer for T (exact target first,
#                   then its path without the query; no spec: 200 "default T n=N\n")
#   POST /__info    body {"target": T}  ->  {"count": N, "requests": [{"method", "headers"}]}
#   GET  /__reset   forgets every spec, count and record
#
# A spec (every member optional):
#   status          200
#   headers         [[name, value], ...] sent as given (Cache-Control, Expires, Vary,
#                   Set-Cookie, ...); "{now+S}" / "{now-S}" in a value becomes an HTTP date
#   body            text; "{n}" becomes this target's count (1 for the first request),
#                   "{h:NAME}" the request header NAME (values joined with ", "; "-" absent)
#   size            instead of body: SIZE bytes of the pattern byte i = i % 251
#   etag, last_modified  sent as ETag / Last-Modified; a request whose If-None-Match lists
#                   the etag (or "*"), or, without If-None-Match, whose If-Modified-Since is
#                   not before last_modified, gets 304 (with the spec's headers, no body)
#                   unless "no_304": true
#   delay_ms        wait before sending the head
#   chunk, chunk_delay_ms  send the body in pieces of CHUNK bytes, waiting between them
#   chunked         true: Transfer-Encoding: chunked instead of Content-Length
#   close_after     send only this many body bytes (Content-Length stays full), then close
#   action          "close": read the request and close without answering;
#                   "reset": the same with a TCP reset
#   gzip_if_accepted  true: when the request's Accept-Encoding names gzip, the body is sent
#                   gzip-compressed with Content-Encoding: gzip
# Every answer carries Date (unless "no_date": true) and X-Backend-Count: N.

import argparse
import gzip
import json
import signal
import socket
import struct
import sys
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import urlsplit

PATTERN = bytes(i % 251 for i in range(251 * 256))
LOCK = threading.Lock()
SPECS = {}
COUNTS = {}
RECORDS = {}
ARGS = None


class Closed(Exception):
    pass


def pattern_bytes(n):
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def http_date(t):
    return formatdate(t, usegmt=True)


def expand_value(v):
    # "{now+60}" / "{now-60}" -> an HTTP date that many seconds from now
    out = v
    while "{now" in out:
        i = out.index("{now")
        j = out.index("}", i)
        off = int(out[i + 4:j] or "0")
        out = out[:i] + http_date(time.time() + off) + out[j + 1:]
    return out


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def read_head(self):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = self.buf[:i]
                self.buf = self.buf[i + 4:]
                return head
            if len(self.buf) > (1 << 20):
                raise Closed()
            self.fill()

    def read_body(self, headers):
        cl = [v for n, v in headers if n.lower() == "content-length"]
        te = [v for n, v in headers if n.lower() == "transfer-encoding"]
        if te and te[-1].lower().endswith("chunked"):
            out = b""
            while True:
                while b"\r\n" not in self.buf:
                    self.fill()
                line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        while b"\r\n" not in self.buf:
                            self.fill()
                        line, self.buf = self.buf.split(b"\r\n", 1)
                        if line == b"":
                            return out
                while len(self.buf) < size + 2:
                    self.fill()
                out += self.buf[:size]
                self.buf = self.buf[size + 2:]
        n = int(cl[0]) if cl else 0
        while len(self.buf) < n:
            self.fill()
        body = self.buf[:n]
        self.buf = self.buf[n:]
        return body


def header(headers, name):
    vals = [v for n, v in headers if n.lower() == name.lower()]
    return ", ".join(vals) if vals else None


def not_modified(spec, headers):
    if spec.get("no_304"):
        return False
    inm = header(headers, "If-None-Match")
    if inm is not None:
        if "etag" not in spec:
            return False
        tags = [t.strip() for t in inm.split(",")]
        etag = spec["etag"]
        weak = lambda t: t[2:] if t.startswith("W/") else t
        return "*" in tags or any(weak(t) == weak(etag) for t in tags)
    ims = header(headers, "If-Modified-Since")
    if ims is not None and "last_modified" in spec:
        try:
            return parsedate_to_datetime(ims) >= parsedate_to_datetime(spec["last_modified"])
        except (TypeError, ValueError):
            return False
    return False


def answer(conn, method, target, headers, n):
    path = urlsplit(target).path
    with LOCK:
        spec = SPECS.get(target, SPECS.get(path))
    if spec is None:
        spec = {"body": "default %s n={n}\n" % target}
    if spec.get("delay_ms"):
        time.sleep(spec["delay_ms"] / 1000.0)
    action = spec.get("action")
    if action == "close":
        raise Closed()
    if action == "reset":
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raise Closed()

    status = spec.get("status", 200)
    if "size" in spec:
        body = pattern_bytes(spec["size"])
    else:
        text = spec.get("body", "")
        text = text.replace("{n}", str(n))
        while "{h:" in text:
            i = text.index("{h:")
            j = text.index("}", i)
            v = header(headers, text[i + 3:j])
            text = text[:i] + (v if v is not None else "-") + text[j + 1:]
        body = text.encode("latin-1")

    out = []
    if ("etag" in spec or "last_modified" in spec) and not_modified(spec, headers):
        status = 304
    extra = [(k, expand_value(v)) for k, v in spec.get("headers", [])]
    if spec.get("gzip_if_accepted") and status != 304:
        ae = (header(headers, "Accept-Encoding") or "").lower()
        if "gzip" in ae:
            body = gzip.compress(body, mtime=0)
            extra.append(("Content-Encoding", "gzip"))
    reasons = {200: "OK", 206: "Partial Content", 301: "Moved Permanently", 304: "Not Modified",
               404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway",
               503: "Service Unavailable", 504: "Gateway Timeout"}
    out.append("HTTP/1.1 %d %s" % (status, reasons.get(status, "Status")))
    out.append("Server: cache-backend-%s" % ARGS.id)
    out.append("X-Backend-Count: %d" % n)
    if not spec.get("no_date"):
        out.append("Date: %s" % http_date(time.time()))
    if "etag" in spec:
        out.append("ETag: %s" % spec["etag"])
    if "last_modified" in spec:
        out.append("Last-Modified: %s" % spec["last_modified"])
    for k, v in extra:
        out.append("%s: %s" % (k, v))
    no_body = status == 304 or status == 204 or status < 200
    chunked = spec.get("chunked") and not no_body
    if not no_body:
        if chunked:
            out.append("Transfer-Encoding: chunked")
        else:
            out.append("Content-Length: %d" % len(body))
    conn.sock.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
    if no_body or method == "HEAD":
        return True
    limit = spec.get("close_after")
    send = body if limit is None else body[:limit]
    step = spec.get("chunk") or 65536
    delay = spec.get("chunk_delay_ms", 0) / 1000.0
    off = 0
    while off < len(send):
        part = send[off:off + step]
        if chunked:
            conn.sock.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
        else:
            conn.sock.sendall(part)
        off += len(part)
        if delay and off < len(send):
            time.sleep(delay)
    if limit is not None:
        time.sleep(0.05)
        raise Closed()
    if chunked:
        conn.sock.sendall(b"0\r\n\r\n")
    return True


def control(conn, method, path, body):
    global SPECS, COUNTS, RECORDS
    if path == "/__set":
        req = json.loads(body.decode() or "{}")
        with LOCK:
            if req.get("spec") is None:
                SPECS.pop(req["target"], None)
            else:
                SPECS[req["target"]] = req["spec"]
        data = b"{}"
    elif path == "/__info":
        req = json.loads(body.decode() or "{}")
        with LOCK:
            t = req["target"]
            data = json.dumps({"count": COUNTS.get(t, 0),
                               "requests": RECORDS.get(t, [])}).encode()
    elif path == "/__all":
        with LOCK:
            data = json.dumps(COUNTS).encode()
    elif path == "/__reset":
        with LOCK:
            SPECS, COUNTS, RECORDS = {}, {}, {}
        data = b"{}"
    else:
        data = b'{"error": "unknown control path"}'
    conn.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(data) + data)


def serve(sock):
    conn = Conn(sock)
    try:
        while True:
            sock.settimeout(60)
            head = conn.read_head()
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                raise Closed()
            method, target, version = parts
            headers = []
            for line in lines[1:]:
                name, _, v = line.partition(":")
                headers.append((name, v.strip(" \t")))
            body = conn.read_body(headers)
            path = urlsplit(target).path
            if path.startswith("/__"):
                control(conn, method, path, body)
            else:
                with LOCK:
                    n = COUNTS.get(target, 0) + 1
                    COUNTS[target] = n
                    RECORDS.setdefault(target, []).append(
                        {"method": method, "headers": [[k, v] for k, v in headers]})
                answer(conn, method, target, headers, n)
            conn_hdr = (header(headers, "Connection") or "").lower()
            if "close" in conn_hdr or version == "HTTP/1.0":
                return
    except (Closed, OSError, ValueError):
        return
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--id", default="c")
    ARGS = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    ls = socket.socket(socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", ARGS.port))
    ls.listen(512)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        s, _ = ls.accept()
        threading.Thread(target=serve, args=(s,), daemon=True).start()


if __name__ == "__main__":
    main()
