#!/usr/bin/python3
# h2_stall.py: an HTTP/2 client (python3-h2) whose window stays shut for one stream. On one
# h2c connection, with the connection window opened wide, it asks for SLOW_PATH and takes
# its first 65535 bytes (the initial stream window) without giving any back; then it asks
# for FAST_PATH and reads it to its end; then it opens SLOW_PATH's window and reads that to
# its end.
#
#   /usr/bin/python3 t/lib/h2_stall.py PORT SLOW_PATH FAST_PATH
#
# Prints JSON {slow: {status, length, sha256, reset, ended}, fast: {...}, slow_before_fast
# (bytes of SLOW_PATH received before FAST_PATH was asked for), slow_at_fast_end (and when
# FAST_PATH ended)}. Every phase is bounded (10 s).

import hashlib
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events

port, slow_path, fast_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                         header_encoding="utf-8"))
c.initiate_connection()
c.increment_flow_control_window(64 << 20)      # the connection window never limits
res = {}
window_open = {1: False, 3: True}


def ask(sid, path):
    c.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                         (":authority", "127.0.0.1:%d" % port)], end_stream=True)
    res[sid] = {"status": None, "data": hashlib.sha256(), "length": 0, "reset": None,
                "ended": False, "unacked": 0}
    s.sendall(c.data_to_send())


def done(sid):
    return res[sid]["ended"] or res[sid]["reset"] is not None


def pump(until):
    """Reads and handles frames until until() is true or 10 s passed."""
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
            r = res.get(getattr(e, "stream_id", 0))
            if isinstance(e, h2.events.ResponseReceived):
                r["status"] = int(dict(e.headers)[":status"])
            elif isinstance(e, h2.events.DataReceived):
                r["data"].update(e.data)
                r["length"] += len(e.data)
                if window_open[e.stream_id]:
                    c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                else:
                    r["unacked"] += e.flow_controlled_length
            elif isinstance(e, h2.events.StreamEnded):
                r["ended"] = True
            elif isinstance(e, h2.events.StreamReset):
                r["reset"] = int(e.error_code)
        s.sendall(c.data_to_send())


ask(1, slow_path)
pump(lambda: res[1]["length"] >= 65535 or done(1))
out = {"slow_before_fast": res[1]["length"]}
ask(3, fast_path)
pump(lambda: done(3))
out["slow_at_fast_end"] = res[1]["length"]
window_open[1] = True
if res[1]["unacked"]:
    c.acknowledge_received_data(res[1]["unacked"], 1)
    s.sendall(c.data_to_send())
pump(lambda: done(1))
for sid, name in ((1, "slow"), (3, "fast")):
    r = res[sid]
    out[name] = {"status": r["status"], "length": r["length"], "reset": r["reset"],
                 "ended": r["ended"], "sha256": r["data"].hexdigest()}
print(json.dumps(out))
