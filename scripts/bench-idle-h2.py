#!/usr/bin/env python3
"""bench-idle-h2.py: opens N idle HTTP/2 connections over TLS to a server, for scripts/bench.

Usage: bench-idle-h2.py HOST PORT N [--path P] [--inflight K] [--timeout S]

Each connection makes a TLS handshake offering ALPN "h2" only (the certificate is not
checked: the benchmark's is self-signed), must get "h2", sends the connection preface and
its SETTINGS, makes one request (GET P, default /) and reads the whole response; it is idle
once that stream has ended with status 200 and the server has acknowledged our SETTINGS
(so both sides' SETTINGS are exchanged, the HPACK tables hold the request's and the
response's fields, and the server holds a warm session). It is then kept open without
traffic. At most K connections are being set up at a time (default 200). When all N are
idle it prints "ready N" and waits until stdin is closed or it gets SIGTERM/SIGINT, then
closes everything. Gives up after S seconds (default 120) with "failed: ..." on stdout and
exit status 1. Needs the Python h2 library (Debian python3-h2).
"""

import errno
import selectors
import signal
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events


class Conn:
    """One connection being set up: socket, TLS state and its h2 state machine."""

    def __init__(self, sock, tls, authority, path):
        self.sock = tls.wrap_socket(sock, server_hostname="localhost",
                                    do_handshake_on_connect=False)
        self.connected = False
        self.handshaken = False
        self.h2 = None
        self.authority = authority
        self.path = path
        self.ended = False
        self.status = None
        self.acked = False

    def start_h2(self):
        """After the handshake: preface, SETTINGS and the one request."""
        if self.sock.selected_alpn_protocol() != "h2":
            raise RuntimeError("ALPN gave %r, not h2" % self.sock.selected_alpn_protocol())
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.h2.send_headers(1, [(":method", "GET"), (":scheme", "https"),
                                 (":authority", self.authority), (":path", self.path)],
                             end_stream=True)

    def feed(self, data):
        """Bytes from the server; True when the connection is warm and idle."""
        for ev in self.h2.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                self.status = dict(ev.headers).get(b":status")
            elif isinstance(ev, h2.events.DataReceived):
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.ended = True
            elif isinstance(ev, h2.events.SettingsAcknowledged):
                self.acked = True
            elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                raise RuntimeError("server ended the stream or connection: %r" % ev)
        if self.ended and self.status != b"200":
            raise RuntimeError("response status %r" % self.status)
        return self.ended and self.acked

    def flush(self):
        """Sends what the h2 state machine has queued (small: blocking is not expected)."""
        out = self.h2.data_to_send()
        if out:
            self.sock.setblocking(True)
            self.sock.sendall(out)
            self.sock.setblocking(False)


def pco_step(c, sel):
    """Advances connection c on a readiness event; True when it became idle."""
    if not c.connected:
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise RuntimeError("connect: %s" % errno.errorcode.get(err, err))
        c.connected = True
    if not c.handshaken:
        try:
            c.sock.do_handshake()
        except ssl.SSLWantReadError:
            sel.modify(c.sock, selectors.EVENT_READ)
            return False
        except ssl.SSLWantWriteError:
            sel.modify(c.sock, selectors.EVENT_WRITE)
            return False
        c.handshaken = True
        c.start_h2()
        c.flush()
        sel.modify(c.sock, selectors.EVENT_READ)
        return False
    done = False
    while True:
        try:
            chunk = c.sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            break
        if not chunk:
            raise RuntimeError("server closed a connection before answering")
        done = c.feed(chunk)
        c.flush()
        if done:
            break
    return done


def pco_open_all(host, port, count, path, inflight, deadline):
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    tls.set_alpn_protocols(["h2"])
    authority = "%s:%d" % (host, port)
    sel = selectors.DefaultSelector()
    idle = []
    pending = {}
    started = 0
    while len(idle) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("timeout with %d of %d connections idle" % (len(idle), count))
        while started < count and len(pending) < inflight:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((host, port))
            if rc not in (0, errno.EINPROGRESS):
                raise RuntimeError("connect: %s" % errno.errorcode.get(rc, rc))
            c = Conn(s, tls, authority, path)
            pending[c.sock] = c
            sel.register(c.sock, selectors.EVENT_WRITE)
            started += 1
        for key, _ in sel.select(timeout=1.0):
            c = pending[key.fileobj]
            if pco_step(c, sel):
                sel.unregister(c.sock)
                del pending[c.sock]
                idle.append(c)
    sel.close()
    return idle


def main():
    args = sys.argv[1:]
    opts = {"--inflight": "200", "--timeout": "120", "--path": "/"}
    for name in list(opts):
        if name in args:
            i = args.index(name)
            opts[name] = args[i + 1]
            del args[i:i + 2]
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, count = args[0], int(args[1]), int(args[2])
    timeout = float(opts["--timeout"])

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    try:
        conns = pco_open_all(host, port, count, opts["--path"], int(opts["--inflight"]),
                             time.monotonic() + timeout)
    except (RuntimeError, OSError, ssl.SSLError) as e:
        print("failed: %s" % e, flush=True)
        return 1
    print("ready %d" % len(conns), flush=True)

    # Hold the connections until stdin closes or a signal, bounded by the same timeout.
    sel = selectors.DefaultSelector()
    try:
        sel.register(sys.stdin, selectors.EVENT_READ)
    except (ValueError, OSError):
        pass
    deadline = time.monotonic() + timeout
    while not stop and time.monotonic() < deadline:
        events = sel.select(timeout=0.5) if sel.get_map() else time.sleep(0.5)
        if events and not sys.stdin.buffer.read1(1024):
            break
    for c in conns:
        c.sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
