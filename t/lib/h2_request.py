#!/usr/bin/python3
# h2_request.py: HTTP/2 requests over one h2c connection (python3-h2), with the header
# fields exactly as given, repeated names included (curl and nghttp fold or reorder some).
#
#   /usr/bin/python3 t/lib/h2_request.py [--body N] [--repeat K] PORT METHOD PATH [NAME=VALUE ...]
#
# --body N sends an N-byte body (byte i = (7 i + 3) % 256) as the windows allow, and stops
# sending when the stream ends or is reset (a response that does not wait for the body);
# --repeat K sends the request K times, one after the other, on the same connection.
# Prints a JSON list, one {status, headers [[name, value]...], body (latin-1), reset (the
# RST_STREAM error code or null), sent (body bytes sent)} per request. Every socket wait is
# bounded (10 s).

import json
import socket
import sys

import h2.config
import h2.connection
import h2.events

args = sys.argv[1:]
body_len, repeat = 0, 1
while args and args[0].startswith("--"):
    opt, val = args.pop(0), int(args.pop(0))
    if opt == "--body":
        body_len = val
    elif opt == "--repeat":
        repeat = val
port, method, path = int(args[0]), args[1], args[2]
body = bytes((i * 7 + 3) % 256 for i in range(body_len))
s = socket.create_connection(("127.0.0.1", port), timeout=10)
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                         header_encoding="utf-8"))
c.initiate_connection()
results = []


def one(sid):
    fields = [(":method", method), (":path", path), (":scheme", "http"),
              (":authority", "127.0.0.1:%d" % port)]
    fields += [tuple(a.split("=", 1)) for a in args[3:]]
    c.send_headers(sid, fields, end_stream=not body)
    out = {"status": None, "headers": [], "body": "", "reset": None, "sent": 0}
    got, ended = b"", False
    while True:
        # the body, as far as the windows go, until the stream is over
        while out["sent"] < len(body) and not ended and out["reset"] is None:
            room = min(c.local_flow_control_window(sid), c.max_outbound_frame_size,
                       len(body) - out["sent"])
            if room <= 0:
                break
            chunk = body[out["sent"]:out["sent"] + room]
            out["sent"] += len(chunk)
            c.send_data(sid, chunk, end_stream=out["sent"] == len(body))
        s.sendall(c.data_to_send())
        if ended or out["reset"] is not None:
            break
        d = s.recv(65536)
        if not d:
            break
        for e in c.receive_data(d):
            if getattr(e, "stream_id", sid) != sid:
                continue
            if isinstance(e, h2.events.ResponseReceived):
                out["headers"] = [[n, v] for n, v in e.headers]
                out["status"] = int(dict(e.headers)[":status"])
            elif isinstance(e, h2.events.DataReceived):
                got += e.data
                c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, h2.events.StreamEnded):
                ended = True
            elif isinstance(e, h2.events.StreamReset):
                out["reset"] = int(e.error_code)
    if ended and out["reset"] is None and out["sent"] < len(body):
        # the response is complete: a RST_STREAM NO_ERROR may follow, wait for it briefly
        s.settimeout(1)
        try:
            for e in c.receive_data(s.recv(65536)):
                if isinstance(e, h2.events.StreamReset) and e.stream_id == sid:
                    out["reset"] = int(e.error_code)
        except socket.timeout:
            pass
        s.settimeout(10)
        s.sendall(c.data_to_send())
    out["body"] = got.decode("latin-1")
    return out


for k in range(repeat):
    results.append(one(1 + 2 * k))
print(json.dumps(results))
