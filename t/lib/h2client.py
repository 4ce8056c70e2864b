#!/usr/bin/python3
# h2client.py: a frame-level HTTP/2 client (h2c, prior knowledge) for t/http2_defences.t.
#
#   /usr/bin/python3 t/lib/h2client.py --port N SCENARIO [--args JSON | --args @FILE]
#
# Prints one JSON object on stdout: what the server did, frame by frame where it matters
# (statuses, RST_STREAM codes, GOAWAY codes and last_stream_id, whether and when the
# connection closed). Frames are built and parsed with hyperframe and header blocks with
# hpack (the h2 project's own layers) rather than with h2.connection: the tests must send
# what a conforming client never would (invalid fields, floods, a header block that never
# ends), and h2's state machine stops reading at the first GOAWAY, where a graceful GOAWAY
# is followed by the streams it lets finish. Debian's python3-h2 provides all three, for
# /usr/bin/python3 only.
#
# Scenarios (their arguments are the keys of --args):
#   cases        [[req, ...], ...]: each inner list runs on a fresh connection, one request
#                after the other (see Conn.request for a req's keys); -> {"cases": [[res...]]}
#   rapid_reset  count, path, then_path, how: count streams each opened and cancelled at
#                once (RST_STREAM CANCEL), in writes of 100 frames; how "content_length":
#                a POST with content-length 1, then 2 bytes of DATA, which the server
#                resets, one after the other; how "open": just opened (hold_ack: sent
#                before the server's SETTINGS are read, and those never acknowledged);
#                then, unless the connection ended, a request to then_path
#   continuation frames, end: a request on stream 1, then stream 3's HEADERS without
#                END_HEADERS and `frames` CONTINUATION frames (END_HEADERS on the last when
#                end is true)
#   flood        kind (ping, settings, priority, window_update), count, batch, pause,
#                then_path: count frames in writes of `batch`, reading between writes
#   download     path, window: a GET with SETTINGS_INITIAL_WINDOW_SIZE = window,
#                WINDOW_UPDATE (stream and connection) after every DATA frame
#   zero_window  stalled, other, wait: SETTINGS_INITIAL_WINDOW_SIZE 0; stream 1 GETs
#                `stalled` and never opens its window, stream 3 GETs `other` with its window
#                opened; then reads until the connection closes (at most `wait` s)
#   load         path, sleeps, concurrency, duration, ready: keeps `concurrency` streams
#                of path?ms=M&s=ID (M taken in turn from sleeps) in flight on one
#                connection, opening a new one as each ends, until a GOAWAY and then the
#                connection's close (or duration s);
#                touches the file `ready` after the first second; with signal_pid,
#                signal and blind, it then sends the signal to that process itself and
#                opens a stream every 20 ms for `blind` s without reading (see blind)
#   raw          path, frames, wait: after a request to path (when given), the frames
#                [[type, flags, stream, payload hex]...] built by hand in one write; then
#                reads for `wait` s
#   idle         path, wait, ready: one request, then touches the file `ready` (when
#                given) and waits for the GOAWAY and the close
import argparse
import hashlib
import json
import os
import signal
import socket
import sys
import time

import h2  # noqa: F401  (the test file skips when python3-h2 is missing)
import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame,
                              HeadersFrame, PingFrame, PriorityFrame, RstStreamFrame,
                              SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_FRAME = 16384
PATTERN = bytes(i % 251 for i in range(251 * 256))


def pattern(n):
    """n bytes of the backend's deterministic pattern (byte i = i % 251)."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def b(s):
    return s.encode("latin-1") if isinstance(s, str) else s


class Conn:
    def __init__(self, port, settings=None, timeout=10, auto_window=True):
        self.t0 = time.monotonic()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 24
        self.buf = b""
        self.streams = {}
        self.goaways = []
        self.closed = None            # seconds after connect at which EOF came
        self.reset_by_peer = False
        self.next_id = 1
        self.auto_window = auto_window
        self.block = None             # a response header block being received
        self.ping_acks = 0
        self.settings_acks = 0
        self.server_settings = {}
        self.conn_window = 65535      # what we may send
        self.peer_initial = 65535
        self.window_updates_sent = 0
        self.hold_settings_ack = False
        s = SettingsFrame(0)
        for k, v in (settings or {}).items():
            s.settings[int(k)] = v
        self.send(PREFACE + s.serialize())

    def now(self):
        return time.monotonic() - self.t0

    def send(self, data):
        if isinstance(data, list):
            data = b"".join(f.serialize() if hasattr(f, "serialize") else f for f in data)
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def stream(self, sid):
        return self.streams.setdefault(sid, {
            "id": sid, "status": None, "headers": [], "body": bytearray(), "end": False,
            "rst": None, "rst_at": None, "window": self.peer_initial, "ended_at": None})

    # ---- reading --------------------------------------------------------------------------

    def pump(self, cond=lambda: False, timeout=5.0):
        """Reads and handles frames until cond() holds, the connection closes or timeout."""
        deadline = time.monotonic() + timeout
        while not cond() and self.closed is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(min(left, 0.5))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                self.reset_by_peer = True
                data = b""
            if not data:
                self.closed = round(self.now(), 3)
                break
            self.buf += data
            self.handle_frames()
        return cond()

    def handle_frames(self):
        while len(self.buf) >= 9:
            f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                return
            f.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            self.on_frame(f)

    def on_frame(self, f):
        if isinstance(f, SettingsFrame):
            if "ACK" in f.flags:
                self.settings_acks += 1
                return
            for k, v in f.settings.items():
                self.server_settings[k] = v
                if k == SettingsFrame.INITIAL_WINDOW_SIZE:
                    for st in self.streams.values():
                        st["window"] += v - self.peer_initial
                    self.peer_initial = v
            if not self.hold_settings_ack:
                self.send(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(f, PingFrame):
            if "ACK" in f.flags:
                self.ping_acks += 1
            else:
                self.send(PingFrame(0, opaque_data=f.opaque_data, flags=["ACK"]).serialize())
        elif isinstance(f, GoAwayFrame):
            self.goaways.append({"last": f.last_stream_id, "code": f.error_code,
                                 "at": round(self.now(), 3)})
        elif isinstance(f, WindowUpdateFrame):
            if f.stream_id == 0:
                self.conn_window += f.window_increment
            else:
                self.stream(f.stream_id)["window"] += f.window_increment
        elif isinstance(f, RstStreamFrame):
            st = self.stream(f.stream_id)
            st["rst"] = f.error_code
            st["rst_at"] = round(self.now(), 3)
        elif isinstance(f, (HeadersFrame, ContinuationFrame)):
            if isinstance(f, HeadersFrame):
                self.block = [f.stream_id, bytes(f.data), "END_STREAM" in f.flags]
            else:
                self.block[1] += bytes(f.data)
            if "END_HEADERS" in f.flags:
                sid, data, end = self.block
                self.block = None
                st = self.stream(sid)
                for n, v in self.dec.decode(data, raw=True):
                    if n == b":status":
                        if st["status"] is None or st["status"] < 200:
                            st["status"] = int(v)
                    else:
                        st["headers"].append([n.decode("latin-1"), v.decode("latin-1")])
                if end:
                    self.end_stream(st)
        elif isinstance(f, DataFrame):
            st = self.stream(f.stream_id)
            st["body"] += bytes(f.data)
            n = f.flow_controlled_length
            if self.auto_window and n > 0:
                self.send([WindowUpdateFrame(0, window_increment=n),
                           WindowUpdateFrame(f.stream_id, window_increment=n)])
                self.window_updates_sent += 2
            if "END_STREAM" in f.flags:
                self.end_stream(st)

    def end_stream(self, st):
        st["end"] = True
        st["ended_at"] = round(self.now(), 3)

    def done(self, sid):
        st = self.streams.get(sid)
        return st is not None and (st["end"] or st["rst"] is not None)

    # ---- sending --------------------------------------------------------------------------

    def header_frames(self, sid, fields, end_stream, encoder=None):
        """HEADERS (+ CONTINUATION) frames for the fields, encoded as given: names and
        values are neither lowercased nor checked."""
        block = (encoder or self.enc).encode([(b(n), b(v)) for n, v in fields])
        parts = [block[i:i + MAX_FRAME] for i in range(0, len(block), MAX_FRAME)] or [b""]
        first = HeadersFrame(sid, data=parts[0])
        frames = [first]
        if end_stream:
            first.flags.add("END_STREAM")
        for p in parts[1:]:
            frames.append(ContinuationFrame(sid, data=p))
        frames[-1].flags.add("END_HEADERS")
        return frames, len(block)

    def open(self, fields, end_stream=True):
        sid = self.next_id
        self.next_id += 2
        self.stream(sid)
        frames, _ = self.header_frames(sid, fields, end_stream)
        self.send(frames)
        return sid

    def send_body(self, sid, data, end=True, timeout=10):
        """DATA frames within the flow-control windows the server gave."""
        st = self.stream(sid)
        off = 0
        while True:
            n = min(len(data) - off, MAX_FRAME, self.conn_window, st["window"])
            if n > 0 or off == len(data):
                last = off + n == len(data)
                flags = ["END_STREAM"] if last and end else []
                self.send(DataFrame(sid, data=data[off:off + n], flags=flags).serialize())
                self.conn_window -= n
                st["window"] -= n
                off += n
                if last:
                    return True
                continue
            if not self.pump(lambda: min(self.conn_window, st["window"]) > 0
                             or st["rst"] is not None, timeout) or st["rst"] is not None:
                return False

    def request(self, req):
        """One request. req keys: headers [[name, value]...] (sent as given, pseudo-headers
        included), data [str...] (one DATA frame each, the last with END_STREAM), body_n
        (that many pattern bytes as the body, within the windows), content_length (adds
        the field), repeat [[name, value, times]...] (fields added after the others; hpack
        indexes the repeats: an HPACK bomb), same_write (HEADERS and DATA in one write),
        wait (s)."""
        fields = [tuple(h) for h in req["headers"]]
        for n, v, k in req.get("repeat", []):
            fields += [(n, v)] * k
        if "content_length" in req:
            fields.append(("content-length", str(req["content_length"])))
        sid = self.next_id
        self.next_id += 2
        self.stream(sid)
        body_frames = [b(d) for d in req.get("data", [])]
        has_body = bool(body_frames) or "body_n" in req
        frames, block_len = self.header_frames(sid, fields, not has_body)
        sent_sha = None
        if body_frames:
            for i, d in enumerate(body_frames):
                frames.append(DataFrame(sid, data=d,
                                        flags=["END_STREAM"] if i == len(body_frames) - 1
                                        else []))
            if req.get("same_write", True):
                self.send(frames)
            else:
                for f in frames:
                    self.send(f.serialize())
                    time.sleep(0.05)
        else:
            self.send(frames)
        if "body_n" in req:
            data = pattern(req["body_n"])
            sent_sha = hashlib.sha256(data).hexdigest()
            self.send_body(sid, data)
        self.pump(lambda: self.done(sid), req.get("wait", 5))
        if not self.done(sid) and self.closed is None:
            self.pump(timeout=0.2)
        return self.result(sid, block_len=block_len, sent_sha256=sent_sha)

    def result(self, sid, **extra):
        st = self.stream(sid)
        r = {"id": sid, "status": st["status"], "headers": st["headers"],
             "body": st["body"].decode("latin-1"), "end": st["end"], "rst": st["rst"],
             "goaway": self.goaways[0] if self.goaways else None, "closed": self.closed,
             # entries the server's header blocks added to our HPACK decoder's table
             "peer_indexed": len(self.dec.header_table.dynamic_entries)}
        r.update({k: v for k, v in extra.items() if v is not None})
        return r

    def summary(self):
        return {"goaways": self.goaways, "closed": self.closed,
                "reset_by_peer": self.reset_by_peer, "ping_acks": self.ping_acks,
                "settings_acks": self.settings_acks}


def get(path, method="GET"):
    return [(":method", method), (":scheme", "http"), (":authority", "localhost"),
            (":path", path)]


# ---- scenarios ---------------------------------------------------------------------------

def sc_cases(port, a):
    out = []
    for reqs in a["cases"]:
        c = Conn(port)
        res = []
        for req in reqs:
            res.append(c.request(req))
            if c.closed is not None or c.goaways:
                break
        c.sock.close()
        out.append(res)
    return {"cases": out}


def sc_rapid_reset(port, a):
    c = Conn(port)
    if a.get("hold_ack"):
        c.hold_settings_ack = True        # the server's SETTINGS stay unacknowledged
    else:
        c.pump(lambda: c.settings_acks > 0, 3)
    frames = []
    for _ in range(a["count"]):
        sid = c.next_id
        c.next_id += 2
        c.stream(sid)
        if a.get("how") == "content_length":
            # the server resets it (DATA past content-length) once its request started;
            # one at a time, within max_concurrent_streams (a reset stream is open until
            # its RST_STREAM is out)
            hf, _ = c.header_frames(sid, get(a["path"], "POST") + [("content-length", "1")],
                                    False)
            c.send(hf)
            c.pump(timeout=0.005)
            c.send(DataFrame(sid, data=b"xx", flags=["END_STREAM"]).serialize())
            if not c.pump(lambda: c.done(sid), 3):
                break
            continue
        elif a.get("how") == "open":
            frames += c.header_frames(sid, get(a["path"]), True)[0]
        else:
            hf, _ = c.header_frames(sid, get(a["path"]), True)
            frames += hf + [RstStreamFrame(sid, error_code=8)]     # CANCEL
        if len(frames) >= 100:
            c.send(frames)
            frames = []
    c.send(frames)
    c.pump(timeout=a.get("pump", 1.0))
    out = c.summary()
    out["answered"] = sum(1 for s in c.streams.values() if s["status"] is not None)
    out["reset"] = sum(1 for s in c.streams.values() if s["rst"] is not None)
    out["rst_codes"] = {str(s["id"]): s["rst"] for s in c.streams.values()
                        if s["rst"] is not None}
    if c.closed is None and not c.goaways:
        out["then"] = c.request({"headers": get(a["then_path"])})
    return out


def sc_continuation(port, a):
    c = Conn(port)
    first = c.request({"headers": get("/r")})
    frames = [HeadersFrame(3, data=c.enc.encode([(b(n), b(v)) for n, v in get("/r")]),
                           flags=["END_STREAM"])]
    for i in range(a["frames"]):
        cf = ContinuationFrame(3, data=c.enc.encode([(b"x-c%d" % i, b"v" * 20)]))
        if a.get("end") and i == a["frames"] - 1:
            cf.flags.add("END_HEADERS")
        frames.append(cf)
    c.stream(3)
    c.send(frames)
    c.pump(lambda: c.done(3), 3)
    out = c.summary()
    out["first"] = first
    out["second"] = c.result(3)
    return out


def sc_flood(port, a):
    c = Conn(port)
    c.pump(lambda: c.settings_acks > 0, 3)
    kind, count, batch = a["kind"], a["count"], a.get("batch", 100)
    make = {
        "ping": lambda i: PingFrame(0, opaque_data=i.to_bytes(8, "big")),
        "settings": lambda i: SettingsFrame(0),
        "priority": lambda i: PriorityFrame(1 + 2 * (i % 1000), depends_on=0,
                                            stream_weight=15),
        "window_update": lambda i: WindowUpdateFrame(0, window_increment=1),
    }[kind]
    sent = 0
    while sent < count and c.closed is None and not c.goaways:
        k = min(batch, count - sent)
        if not c.send([make(sent + i) for i in range(k)]):
            break
        sent += k
        c.pump(timeout=a.get("pause", 0.02))
    if kind in ("ping", "settings"):
        c.pump(lambda: c.goaways or (kind == "ping" and c.ping_acks >= sent)
               or (kind == "settings" and c.settings_acks >= sent + 1), 3)
    else:
        c.pump(lambda: c.goaways, 0.5)        # no answer to wait for
    out = c.summary()
    out["sent"] = sent
    if c.closed is None and not c.goaways and a.get("then_path"):
        out["then"] = c.request({"headers": get(a["then_path"])})
    elif c.goaways:
        c.pump(timeout=3)
        out.update(c.summary())
    return out


def sc_download(port, a):
    c = Conn(port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: a["window"]})
    r = c.request({"headers": get(a["path"]), "wait": 20})
    body = r.pop("body").encode("latin-1")
    r["length"] = len(body)
    r["sha256"] = hashlib.sha256(body).hexdigest()
    r["window_updates_sent"] = c.window_updates_sent
    r.update(c.summary())
    return r


def sc_zero_window(port, a):
    c = Conn(port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0}, auto_window=False)
    c.pump(lambda: c.settings_acks > 0, 3)
    s1 = c.open(get(a["stalled"]))
    s3 = c.open(get(a["other"]))
    c.send([WindowUpdateFrame(s3, window_increment=1 << 20),
            WindowUpdateFrame(0, window_increment=1 << 20)])
    c.pump(lambda: c.done(s3), 5)
    s3_done = c.now()
    c.pump(lambda: c.done(s1), a["wait"])
    c.pump(timeout=a["wait"])
    out = c.summary()
    out["stalled"] = c.result(s1)
    out["stalled"]["body_len"] = len(out["stalled"].pop("body"))
    out["stalled"]["rst_at"] = c.stream(s1)["rst_at"]
    out["other"] = c.result(s3)
    out["other_done_at"] = round(s3_done, 3)
    return out


def sc_load(port, a):
    c = Conn(port)
    c.pump(lambda: c.settings_acks > 0, 3)
    paths = {}
    deadline = time.monotonic() + a["duration"]
    ready = False
    while time.monotonic() < deadline and c.closed is None:
        if not c.goaways:
            inflight = sum(1 for s in c.streams.values() if not s["end"] and s["rst"] is None)
            while inflight < a["concurrency"]:
                sid = c.next_id
                ms = a["sleeps"][(sid // 2) % len(a["sleeps"])]
                path = "%s?ms=%d&s=%d" % (a["path"], ms, sid)
                paths[sid] = path
                c.open(get(path))
                inflight += 1
        c.pump(timeout=0.05)
        if not ready and c.now() > 1.0:
            open(a["ready"], "w").close()
            ready = True
            if a.get("signal_pid"):
                blind(c, a, paths)
    streams = []
    for sid in sorted(c.streams):
        st = c.streams[sid]
        streams.append({"id": sid, "path": paths.get(sid), "status": st["status"],
                        "body": st["body"].decode("latin-1"), "end": st["end"],
                        "rst": st["rst"], "ended_at": st["ended_at"]})
    out = c.summary()
    out["streams"] = streams
    return out


def blind(c, a, paths):
    """Signals the master, then opens a stream every 20 ms for `blind` s without reading:
    the first that the retiring worker reads is the last it processes, those after it were
    sent before the client could know of the GOAWAY."""
    os.kill(a["signal_pid"], getattr(signal, "SIG" + a["signal"]))
    end = time.monotonic() + a["blind"]
    while time.monotonic() < end:
        sid = c.next_id
        paths[sid] = "%s?ms=%d&s=%d" % (a["path"], a["sleeps"][0], sid)
        c.open(get(paths[sid]))
        time.sleep(0.02)


def raw_frame(ftype, flags, sid, payload):
    """A frame built by hand, for what hyperframe refuses to build (invalid on purpose)."""
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags])
            + (sid & 0x7fffffff).to_bytes(4, "big") + payload)


def sc_raw(port, a):
    c = Conn(port)
    c.pump(lambda: c.settings_acks > 0, 3)
    first = c.request({"headers": get(a["path"])}) if a.get("path") else None
    c.send(b"".join(raw_frame(t, fl, sid, bytes.fromhex(hx)) for t, fl, sid, hx in a["frames"]))
    c.pump(timeout=a.get("wait", 3))
    out = c.summary()
    out["first"] = first
    return out


def sc_idle(port, a):
    c = Conn(port)
    r = c.request({"headers": get(a["path"])})
    t = c.now()
    if a.get("ready"):
        open(a["ready"], "w").close()
    c.pump(timeout=a["wait"])
    out = c.summary()
    out["first"] = r
    out["idle_from"] = round(t, 3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--args", default="{}")
    ap.add_argument("scenario")
    o = ap.parse_args()
    fn = globals().get("sc_" + o.scenario)
    if fn is None:
        sys.exit("unknown scenario " + o.scenario)
    args = o.args
    if args.startswith("@"):
        with open(args[1:]) as f:
            args = f.read()
    json.dump(fn(o.port, json.loads(args)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
