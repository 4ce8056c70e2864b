#!/usr/bin/python3
# h2ws.py: a WebSocket client over HTTP/2 (RFC 8441 extended CONNECT) for t/http2_websocket.t,
# on the python3-h2 library (run it with /usr/bin/python3, where Debian installs h2).
#
#   h2ws.py PORT PATH [PROTOCOL] [SIZE...]
#
# Connects to 127.0.0.1:PORT with HTTP/2 prior knowledge, prints "connect_protocol N" (the
# server's SETTINGS_ENABLE_CONNECT_PROTOCOL), sends CONNECT with :protocol PROTOCOL (default
# websocket) to PATH, prints "status N" and "header NAME VALUE" lines, or "reset CODE". On a
# 200, it sends one masked binary frame of each SIZE (bytes i % 251) and prints "echo SIZE ok"
# or "echo SIZE bad LEN" for each frame the server echoes back (the test backend echoes frames
# unmasked), then ends its stream and prints "end" when the server ends its own, or "reset
# CODE". Every wait is bounded (5 s); a timeout prints "timeout".
import os
import socket
import struct
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings

port, path = int(sys.argv[1]), sys.argv[2]
proto = sys.argv[3] if len(sys.argv) > 3 else 'websocket'
sizes = [int(x) for x in sys.argv[4:]]

sock = socket.create_connection(('127.0.0.1', port), timeout=5)
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())
events = []


def wait(pred):
    while True:
        for e in events:
            if pred(e):
                events.remove(e)
                return e
        try:
            data = sock.recv(65536)
        except socket.timeout:
            print('timeout')
            sys.exit(0)
        if not data:
            print('closed')
            sys.exit(0)
        events.extend(conn.receive_data(data))
        out = conn.data_to_send()
        if out:
            sock.sendall(out)


def is_(*kinds):
    return lambda e: isinstance(e, kinds)


wait(is_(h2.events.RemoteSettingsChanged))
print('connect_protocol', conn.remote_settings.get(
    h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL, 0))
conn.send_headers(1, [(':method', 'CONNECT'), (':protocol', proto), (':scheme', 'http'),
                      (':authority', 'ws.test'), (':path', path),
                      ('sec-websocket-version', '13')])
sock.sendall(conn.data_to_send())
e = wait(is_(h2.events.ResponseReceived, h2.events.StreamReset))
if isinstance(e, h2.events.StreamReset):
    print('reset', int(e.error_code))
    sys.exit(0)
for name, value in e.headers:
    if name == b':status':
        print('status', value.decode())
    else:
        print('header', name.decode(), value.decode())
if dict(e.headers)[b':status'] != b'200':
    sys.exit(0)


def frame(payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x82])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack('!H', n)
    else:
        head += bytes([0x80 | 127]) + struct.pack('!Q', n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def unframe(buf):
    """(payload, rest) of the first whole unmasked frame in buf, or (None, buf)."""
    if len(buf) < 2:
        return None, buf
    n, off = buf[1] & 0x7f, 2
    if n == 126:
        if len(buf) < 4:
            return None, buf
        n, off = struct.unpack('!H', buf[2:4])[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None, buf
        n, off = struct.unpack('!Q', buf[2:10])[0], 10
    if len(buf) < off + n:
        return None, buf
    return buf[off:off + n], buf[off + n:]


got = b''
for size in sizes:
    payload = bytes(i % 251 for i in range(size))
    data = frame(payload)
    while data:
        while conn.local_flow_control_window(1) == 0:
            wait(is_(h2.events.WindowUpdated))
        chunk = data[:min(16384, conn.local_flow_control_window(1))]
        conn.send_data(1, chunk)
        sock.sendall(conn.data_to_send())
        data = data[len(chunk):]
    while True:
        echo, got = unframe(got)
        if echo is not None:
            break
        e = wait(is_(h2.events.DataReceived, h2.events.StreamReset, h2.events.StreamEnded))
        if not isinstance(e, h2.events.DataReceived):
            print('ended early', type(e).__name__)
            sys.exit(0)
        got += e.data
        conn.acknowledge_received_data(e.flow_controlled_length, 1)
        sock.sendall(conn.data_to_send())
    print('echo', size, 'ok' if echo == payload else 'bad %d' % len(echo))
conn.end_stream(1)
sock.sendall(conn.data_to_send())
e = wait(is_(h2.events.StreamEnded, h2.events.StreamReset))
print('end' if isinstance(e, h2.events.StreamEnded) else 'reset %d' % int(e.error_code))
