#!/usr/bin/python3
# h2_early_body.py: an HTTP/2 client (python3-h2) that sends a POST with an N-byte body
# (byte i = (7 i + 3) % 256) right behind its preface, before it has read the server's
# SETTINGS, so the body may fill the default 65535-byte stream window even when the server
# announces a smaller one (RFC 9113 allows it until the SETTINGS are acknowledged).
#
#   /usr/bin/python3 t/lib/h2_early_body.py PORT N PATH
#
# Prints JSON {status, reset (RST_STREAM error code or null), body, sha256 (of what was
# sent)}. Every socket wait is bounded (10 s).

import hashlib
import json
import socket
import sys

import h2.config
import h2.connection
import h2.events

port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
body = bytes((i * 7 + 3) % 256 for i in range(n))
s = socket.create_connection(("127.0.0.1", port), timeout=10)
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                         header_encoding="utf-8"))
c.initiate_connection()
c.send_headers(1, [(":method", "POST"), (":path", path), (":scheme", "http"),
                   (":authority", "127.0.0.1:%d" % port), ("content-length", str(n))])
for off in range(0, n, 16384):
    c.send_data(1, body[off:off + 16384], end_stream=off + 16384 >= n)
s.sendall(c.data_to_send())
status, data, reset, ended = None, b"", None, False
while not ended and reset is None:
    d = s.recv(65536)
    if not d:
        break
    for e in c.receive_data(d):
        if isinstance(e, h2.events.ResponseReceived):
            status = int(dict(e.headers)[":status"])
        elif isinstance(e, h2.events.DataReceived):
            data += e.data
            c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        elif isinstance(e, h2.events.StreamEnded):
            ended = True
        elif isinstance(e, h2.events.StreamReset):
            reset = int(e.error_code)
    s.sendall(c.data_to_send())
print(json.dumps({"status": status, "reset": reset, "body": data.decode("latin-1"),
                  "sha256": hashlib.sha256(body).hexdigest()}))
