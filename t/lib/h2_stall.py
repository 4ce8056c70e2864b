#!/usr/bin/python3
# h2_stall.py: an HTTP/2 client (python3-h2) whose window stays shut for one stream: on one
# h2c connection it asks for SLOW_PATH and FAST_PATH at once, opens the connection window
# wide, takes FAST_PATH's data as it comes but gives SLOW_PATH no more than its initial
# 65535 bytes; once FAST_PATH has ended (or 10 s passed) it opens SLOW_PATH's window and
# reads it to its end.
#
#   /usr/bin/python3 t/lib/h2_stall.py PORT SLOW_PATH FAST_PATH
#
# Prints JSON {slow: {status, length, sha256, reset}, fast: {...}, slow_at_fast_end (bytes
# of SLOW_PATH received when FAST_PATH ended), fast_ended_first}. Every wait is bounded.

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
for sid, path in ((1, slow_path), (3, fast_path)):
    c.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                         (":authority", "127.0.0.1:%d" % port)], end_stream=True)
    res[sid] = {"status": None, "data": hashlib.sha256(), "length": 0, "reset": None,
                "ended": False, "unacked": 0}
s.sendall(c.data_to_send())
out = {"slow_at_fast_end": None, "fast_ended_first": False}
deadline = time.time() + 20
opened = False
while not (res[1]["ended"] or res[1]["reset"] is not None) and time.time() < deadline:
    if not opened and (res[3]["ended"] or res[3]["reset"] is not None
                       or time.time() > deadline - 10):
        opened = True
        out["slow_at_fast_end"] = res[1]["length"]
        out["fast_ended_first"] = res[3]["ended"] and not res[1]["ended"]
        if res[1]["unacked"]:
            c.acknowledge_received_data(res[1]["unacked"], 1)
            res[1]["unacked"] = 0
        s.sendall(c.data_to_send())
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    if not d:
        break
    for e in c.receive_data(d):
        r = res.get(getattr(e, "stream_id", 0))
        if isinstance(e, h2.events.ResponseReceived):
            r["status"] = int(dict(e.headers)[":status"])
        elif isinstance(e, h2.events.DataReceived):
            r["data"].update(e.data)
            r["length"] += len(e.data)
            if e.stream_id == 3 or opened:
                c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            else:
                r["unacked"] += e.flow_controlled_length
        elif isinstance(e, h2.events.StreamEnded):
            r["ended"] = True
        elif isinstance(e, h2.events.StreamReset):
            r["reset"] = int(e.error_code)
    s.sendall(c.data_to_send())
for sid, name in ((1, "slow"), (3, "fast")):
    r = res[sid]
    out[name] = {"status": r["status"], "length": r["length"], "reset": r["reset"],
                 "ended": r["ended"], "sha256": r["data"].hexdigest()}
print(json.dumps(out))
