#!/usr/bin/env python3
# ws_tls.py: WebSocket peers over plain TCP or TLS for t/tls_websocket.t (Python 3 standard
# library only; Perl has no TLS module on the test machines). Two roles:
#
#   python3 t/lib/ws_tls.py server --port N --events FILE [--cert F --key F]
#       A WebSocket backend on 127.0.0.1:N (TLS when --cert/--key are given). Prints "ready"
#       once it listens; one thread per connection; stops on SIGTERM. After the handshake
#       (101 with the right Sec-WebSocket-Accept) the path selects the behaviour:
#         /echo        echoes every frame (unmasked); a ping gets a pong; a close frame is
#                      echoed and the connection closed; a text frame "quit" makes the
#                      backend close the connection (close_notify over TLS) without a frame
#         /duplex      waits for a text frame "N", then at the same time sends a binary frame
#                      of N pattern bytes and reads one binary frame from the client, then
#                      answers the text "LENGTH SHA256" of what it read; then as /echo
#         /flood?n=N   sends N pattern bytes in binary frames of 64 KiB, then the text "end";
#                      then as /echo
#       Events are appended to FILE, one line each, flushed at once:
#         "upgrade ID PATH", "sent ID BYTES" (/flood, every MiB and at the end),
#         "duplex ID SENT GOT", "close ID" (the backend closed), "eof ID HOW" (the client side
#         closed: HOW is close_notify, eof (no close_notify or plain TCP), reset or
#         tls-error:REASON), "error ID EXCEPTION" (a timeout or a malformed request).
#
#   python3 t/lib/ws_tls.py client
#       One WebSocket client driven by JSON commands on stdin, one JSON answer line each on
#       stdout (see the op_* functions). It reads only while a command asks it to, so a test
#       can stop reading and resume.
#
# The pattern is that of backend.py: byte i = i % 251 (a client frame starts at offset 7 so
# that the two directions differ). Every wait is bounded by a deadline.

import base64
import hashlib
import json
import os
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from urllib.parse import urlsplit, parse_qs

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PATTERN = bytes(i % 251 for i in range(251 * 1024))
CHUNK = 16384


def pattern(n, offset=0):
    out = []
    while n > 0:
        start = offset % 251
        part = PATTERN[start:start + min(n, len(PATTERN) - 251)]
        out.append(part)
        n -= len(part)
        offset += len(part)
    return b"".join(out)


class Closed(Exception):
    def __init__(self, how):
        Exception.__init__(self, how)
        self.how = how


class Timeout(Exception):
    pass


def tls_error(e):
    """How a connection ended, from an SSLError: close_notify, reset or tls-error:WHAT."""
    if isinstance(e, ssl.SSLZeroReturnError):
        return "close_notify"
    if isinstance(e, ssl.SSLEOFError):
        return "eof"
    if isinstance(e, ssl.SSLSyscallError) and e.errno in (None, 0, 104):
        return "reset"
    return "tls-error:" + (str(e.reason) if e.reason else type(e).__name__)


class Chan:
    """A non-blocking byte channel over a socket or TLS; every wait takes a deadline."""

    def __init__(self, sock, ctx=None, server_side=False, sni=None, deadline=None):
        sock.setblocking(False)
        self.tls = ctx is not None
        self.rbuf = bytearray()
        self.closed = None
        if self.tls:
            sock = ctx.wrap_socket(sock, server_side=server_side, server_hostname=sni,
                                   do_handshake_on_connect=False, suppress_ragged_eofs=False)
        self.s = sock
        if self.tls:
            dl = deadline or time.time() + 20
            while True:
                try:
                    sock.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self.wait(True, False, dl)
                except ssl.SSLWantWriteError:
                    self.wait(False, True, dl)

    def version(self):
        return self.s.version() if self.tls else ""

    def wait(self, r, w, deadline, cap=0.2):
        if self.tls and r and self.s.pending():
            return
        left = deadline - time.time()
        if left <= 0:
            raise Timeout()
        select.select([self.s] if r else [], [self.s] if w else [], [], min(left, cap))

    def try_recv(self):
        """Reads once into rbuf: bytes read, 0 when it would block; raises Closed."""
        if self.closed:
            raise Closed(self.closed)
        try:
            data = self.s.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return 0
        except ssl.SSLEOFError:
            self.closed = "eof"
            raise Closed(self.closed)
        except (ConnectionResetError, BrokenPipeError):
            self.closed = "reset"
            raise Closed(self.closed)
        except ssl.SSLError as e:
            self.closed = tls_error(e)
            raise Closed(self.closed)
        if not data:
            self.closed = "close_notify" if self.tls else "eof"
            raise Closed(self.closed)
        self.rbuf += data
        return len(data)

    def try_send(self, data):
        """Writes at most one chunk: bytes written, 0 when it would block."""
        try:
            return self.s.send(data[:CHUNK])
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return 0
        except (ConnectionResetError, BrokenPipeError):
            raise Closed("reset")
        except ssl.SSLError as e:
            raise Closed(tls_error(e))

    def fill(self, n, deadline):
        while len(self.rbuf) < n:
            if self.try_recv() == 0:
                self.wait(True, False, deadline)

    def send_all(self, data, deadline):
        view = memoryview(data)
        off = 0
        while off < len(view):
            k = self.try_send(view[off:off + CHUNK])
            if k == 0:
                self.wait(False, True, deadline)
            off += k

    def read_head(self, deadline):
        while True:
            i = self.rbuf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.rbuf[:i + 4])
                del self.rbuf[:i + 4]
                return head.decode("latin-1")
            if len(self.rbuf) > 65536:
                raise Closed("head too long")
            if self.try_recv() == 0:
                self.wait(True, False, deadline)

    def parse_frame(self):
        """One complete frame from rbuf: (opcode, payload) or None."""
        b = self.rbuf
        if len(b) < 2:
            return None
        ln = b[1] & 0x7F
        pos = 2
        if ln == 126:
            if len(b) < 4:
                return None
            ln = struct.unpack(">H", b[2:4])[0]
            pos = 4
        elif ln == 127:
            if len(b) < 10:
                return None
            ln = struct.unpack(">Q", b[2:10])[0]
            pos = 10
        mask = None
        if b[1] & 0x80:
            if len(b) < pos + 4:
                return None
            mask = bytes(b[pos:pos + 4])
            pos += 4
        if len(b) < pos + ln:
            return None
        payload = bytes(b[pos:pos + ln])
        opcode = b[0] & 0x0F
        del b[:pos + ln]
        if mask:
            payload = unmask(payload, mask)
        return opcode, payload

    def read_frame(self, deadline):
        while True:
            f = self.parse_frame()
            if f is not None:
                return f
            if self.try_recv() == 0:
                self.wait(True, False, deadline)

    def close(self, notify=True):
        if self.tls and notify:
            try:
                self.s.unwrap()
            except (OSError, ValueError):
                pass
        try:
            self.s.close()
        except OSError:
            pass


def unmask(payload, mask):
    n = len(payload)
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


def frame(opcode, payload, mask=None):
    ln = len(payload)
    mbit = 0x80 if mask else 0
    if ln < 126:
        h = bytes([0x80 | opcode, mbit | ln])
    elif ln < 65536:
        h = bytes([0x80 | opcode, mbit | 126]) + struct.pack(">H", ln)
    else:
        h = bytes([0x80 | opcode, mbit | 127]) + struct.pack(">Q", ln)
    if mask:
        return h + mask + unmask(payload, mask)
    return h + payload


def duplex(ch, out, deadline):
    """Sends out while reading one frame, in the same loop; returns the frame read."""
    view = memoryview(out)
    off = 0
    got = None
    while off < len(view) or got is None:
        moved = False
        if off < len(view):
            k = ch.try_send(view[off:off + CHUNK])
            off += k
            moved = moved or k > 0
        if got is None:
            got = ch.parse_frame()
            if got is None and ch.try_recv() > 0:
                moved = True
        if not moved and (off < len(view) or got is None):
            ch.wait(got is None, off < len(view), deadline, cap=0.05)
    return got


# ---- server ------------------------------------------------------------------------------

EVLOCK = threading.Lock()
EVFILE = None
NEXT_ID = [0]


def event(line):
    with EVLOCK:
        with open(EVFILE, "a") as f:
            f.write(line + "\n")


def serve(sock, ctx):
    with EVLOCK:
        NEXT_ID[0] += 1
        cid = NEXT_ID[0]
    ch = None
    try:
        ch = Chan(sock, ctx, server_side=True)
        head = ch.read_head(time.time() + 30)
        lines = head.split("\r\n")
        target = lines[0].split(" ")[1]
        key = ""
        for line in lines[1:]:
            n, _, v = line.partition(":")
            if n.strip().lower() == "sec-websocket-key":
                key = v.strip()
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        ch.send_all(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Server: ws-backend\r\n\r\n" % accept).encode(), time.time() + 30)
        event("upgrade %d %s" % (cid, target))
        url = urlsplit(target)
        if url.path == "/duplex":
            op, pl = ch.read_frame(time.time() + 120)
            n = int(pl.decode())
            got = duplex(ch, frame(2, pattern(n)), time.time() + 120)
            event("duplex %d %d %d" % (cid, n, len(got[1])))
            reply = "%d %s" % (len(got[1]), hashlib.sha256(got[1]).hexdigest())
            ch.send_all(frame(1, reply.encode()), time.time() + 30)
        elif url.path == "/flood":
            n = int(parse_qs(url.query).get("n", ["0"])[0])
            off = 0
            mark = 0
            while off < n:
                k = min(65536, n - off)
                ch.send_all(frame(2, pattern(k, off)), time.time() + 600)
                off += k
                if off - mark >= (1 << 20) or off == n:
                    mark = off
                    event("sent %d %d" % (cid, off))
            ch.send_all(frame(1, b"end"), time.time() + 600)
        while True:
            op, pl = ch.read_frame(time.time() + 3600)
            if op == 1 and pl == b"quit":
                event("close %d" % cid)
                ch.close()
                ch = None
                return
            ch.send_all(frame(10 if op == 9 else op, pl), time.time() + 120)
            if op == 8:
                event("close %d" % cid)
                ch.close()
                ch = None
                return
    except Closed as e:
        event("eof %d %s" % (cid, e.how))
    except (Timeout, OSError, ValueError, IndexError) as e:
        event("error %d %s" % (cid, type(e).__name__))
    finally:
        if ch is not None:
            ch.close(notify=False)


def server(args):
    global EVFILE
    opts = dict(zip(args[::2], args[1::2]))
    EVFILE = opts["--events"]
    ctx = None
    if "--cert" in opts:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts["--cert"], opts["--key"])
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    ls = socket.socket(socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(opts["--port"])))
    ls.listen(128)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        s, _ = ls.accept()
        threading.Thread(target=serve, args=(s, ctx), daemon=True).start()


# ---- client ------------------------------------------------------------------------------

CH = [None]
MASK = b"\x12\x34\x56\x78"


def op_connect(c):
    """{port, tls, sni, ca, path, host, key, rcvbuf}: handshake and upgrade request;
    {head, version} where head is the response head as received."""
    s = socket.create_connection(("127.0.0.1", c["port"]), timeout=10)
    if c.get("rcvbuf"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, c["rcvbuf"])
    ctx = None
    if c.get("tls"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(c["ca"])
    ch = Chan(s, ctx, sni=c.get("sni"))
    CH[0] = ch
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % (c["path"], c.get("host", "localhost"), c["key"]))
    ch.send_all(req.encode(), time.time() + 10)
    head = ch.read_head(time.time() + c.get("timeout", 10))
    return {"head": head, "version": ch.version()}


def op_send(c):
    """{opcode, text}, {opcode, hex} or {opcode, n}: one masked frame (n pattern bytes from
    offset 7)."""
    if "text" in c:
        payload = c["text"].encode()
    elif "hex" in c:
        payload = bytes.fromhex(c["hex"])
    else:
        payload = pattern(c["n"], 7)
    CH[0].send_all(frame(c["opcode"], payload, MASK), time.time() + c.get("timeout", 60))
    return {}


def op_recv(c):
    """{timeout}: one frame: {opcode, len, text (latin-1), sha256}."""
    op, pl = CH[0].read_frame(time.time() + c.get("timeout", 10))
    return {"opcode": op, "len": len(pl), "sha256": hashlib.sha256(pl).hexdigest(),
            "text": pl[:256].decode("latin-1")}


def op_duplex(c):
    """{n, timeout}: asks /duplex for n bytes, sends n bytes while reading them, then reads
    the backend's "LENGTH SHA256"; {got_len, got_pattern, reply}."""
    dl = time.time() + c.get("timeout", 120)
    ch = CH[0]
    ch.send_all(frame(1, str(c["n"]).encode(), MASK), dl)
    op, pl = duplex(ch, frame(2, pattern(c["n"], 7), MASK), dl)
    rop, reply = ch.read_frame(dl)
    return {"opcode": op, "got_len": len(pl), "got_pattern": pl == pattern(c["n"]),
            "reply_opcode": rop, "reply": reply.decode("latin-1")}


def op_read_stream(c):
    """{n, timeout}: reads binary frames up to n bytes then the text "end";
    {len, sha256, in_order, last}."""
    dl = time.time() + c.get("timeout", 300)
    ch = CH[0]
    h = hashlib.sha256()
    total = 0
    in_order = True
    last = None
    while True:
        op, pl = ch.read_frame(dl)
        if op != 2:
            last = pl.decode("latin-1")
            break
        if pl != pattern(len(pl), total):
            in_order = False
        h.update(pl)
        total += len(pl)
    return {"len": total, "sha256": h.hexdigest(), "in_order": in_order, "last": last}


def op_close(c):
    """{notify, reset}: closes the connection: close_notify first over TLS unless notify is
    false; reset: an RST (SO_LINGER 0) without close_notify."""
    ch = CH[0]
    if c.get("reset"):
        ch.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ch.close(notify=c.get("notify", True) and not c.get("reset"))
    return {}


def op_wait_closed(c):
    """{timeout}: reads until the peer closes: {closed: HOW, after: seconds, extra: bytes}."""
    t0 = time.time()
    dl = t0 + c.get("timeout", 10)
    ch = CH[0]
    n = len(ch.rbuf)
    try:
        while True:
            k = ch.try_recv()
            n += k
            if k == 0:
                ch.wait(True, False, dl)
    except Closed as e:
        return {"closed": e.how, "after": time.time() - t0, "extra": n}
    except Timeout:
        return {"closed": "", "after": time.time() - t0, "extra": n}


def client():
    ops = {"connect": op_connect, "send": op_send, "recv": op_recv, "duplex": op_duplex,
           "read_stream": op_read_stream, "close": op_close, "wait_closed": op_wait_closed}
    for line in sys.stdin:
        c = json.loads(line)
        if c["op"] == "quit":
            break
        try:
            res = ops[c["op"]](c)
            res["ok"] = True
        except Closed as e:
            res = {"ok": False, "error": "closed " + e.how}
        except Timeout:
            res = {"ok": False, "error": "timeout"}
        except (OSError, ValueError) as e:
            res = {"ok": False, "error": "%s %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2:])
    else:
        client()
