#!/usr/bin/python3
# h2_cancel.py: an HTTP/2 client (python3-h2) that gives up on streams midway, then asks for
# AFTER_PATH on the same connection (except in "close" mode).
#
#   /usr/bin/python3 t/lib/h2_cancel.py PORT MODE AFTER_PATH PATH...
#
# Modes:
#   download  GET the first PATH, take 100000 bytes of it, RST_STREAM CANCEL, then AFTER_PATH
#   upload    POST 30000 bytes to the first PATH without ending the body, RST_STREAM CANCEL
#             after 0.2 s, then AFTER_PATH
#   waiting   GET the first PATH, RST_STREAM CANCEL after 0.2 s (before any answer), then
#             AFTER_PATH
#   close     GET every PATH, take 100000 bytes of any of them, then close the socket
# Prints JSON {after: {status, body} or null, streams: {id: {status, length, ended,
# reset}}}. Every wait is bounded (10 s).

import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events

port, mode, after = int(sys.argv[1]), sys.argv[2], sys.argv[3]
paths = sys.argv[4:]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                         header_encoding="utf-8"))
c.initiate_connection()
c.increment_flow_control_window(64 << 20)
st = {}
bodies = {}


def ask(sid, path, method="GET", end=True):
    c.send_headers(sid, [(":method", method), (":path", path), (":scheme", "http"),
                         (":authority", "127.0.0.1:%d" % port)], end_stream=end)
    st[sid] = {"status": None, "length": 0, "ended": False, "reset": None}
    bodies[sid] = b""
    s.sendall(c.data_to_send())


def pump(until):
    deadline = time.time() + 10
    while not until() and time.time() < deadline:
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            return
        if not d:
            return
        for e in c.receive_data(d):
            r = st.get(getattr(e, "stream_id", 0))
            if r is None:
                continue
            if isinstance(e, h2.events.ResponseReceived):
                r["status"] = int(dict(e.headers)[":status"])
            elif isinstance(e, h2.events.DataReceived):
                r["length"] += len(e.data)
                bodies[e.stream_id] += e.data[:1000]
                c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, h2.events.StreamEnded):
                r["ended"] = True
            elif isinstance(e, h2.events.StreamReset):
                r["reset"] = int(e.error_code)
        s.sendall(c.data_to_send())


def cancel(sid):
    c.reset_stream(sid, 8)      # CANCEL
    s.sendall(c.data_to_send())


if mode == "download":
    ask(1, paths[0])
    pump(lambda: st[1]["length"] >= 100000 or st[1]["ended"])
    cancel(1)
elif mode == "upload":
    ask(1, paths[0], "POST", end=False)
    c.send_data(1, b"x" * 16000)
    c.send_data(1, b"x" * 14000)
    s.sendall(c.data_to_send())
    time.sleep(0.2)
    cancel(1)
elif mode == "waiting":
    ask(1, paths[0])
    time.sleep(0.2)
    cancel(1)
elif mode == "close":
    for i, p in enumerate(paths):
        ask(1 + 2 * i, p)
    pump(lambda: any(r["length"] >= 100000 for r in st.values()))
    s.close()
out = {"after": None, "streams": st}
if mode != "close":
    sid = max(st) + 2
    ask(sid, after)
    pump(lambda: st[sid]["ended"] or st[sid]["reset"] is not None)
    out["after"] = {"status": st[sid]["status"], "body": bodies[sid].decode("latin-1")}
print(json.dumps(out))
