#!/usr/bin/env python3
"""bench-idle.py: opens N idle keep-alive HTTP/1.1 connections to a server, for scripts/bench.

Usage: bench-idle.py HOST PORT N [--inflight K] [--timeout S]

Each connection sends "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n", reads the whole response
(Content-Length framing) and is then kept open, idle. At most K connections are being set up
at a time (default 200). When all N are idle it prints "ready N" and waits until stdin is
closed or it gets SIGTERM/SIGINT, then closes everything. Gives up after S seconds
(default 120) with "failed: ..." on stdout and exit status 1. Python 3 standard library only.
"""

import errno
import selectors
import signal
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def pco_response_complete(data):
    """True when data holds a whole response head and its Content-Length body."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in data[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(data) >= end + 4 + length


def pco_open_all(host, port, count, inflight, deadline):
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
            pending[s] = {"sent": False, "data": b""}
            sel.register(s, selectors.EVENT_WRITE)
            started += 1
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            st = pending[s]
            if not st["sent"]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise RuntimeError("connect: %s" % errno.errorcode.get(err, err))
                s.send(REQUEST)
                st["sent"] = True
                sel.modify(s, selectors.EVENT_READ)
                continue
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("server closed a connection before answering")
            st["data"] += chunk
            if pco_response_complete(st["data"]):
                sel.unregister(s)
                del pending[s]
                idle.append(s)
    sel.close()
    return idle


def main():
    args = sys.argv[1:]
    inflight, timeout = 200, 120.0
    if "--inflight" in args:
        i = args.index("--inflight")
        inflight = int(args[i + 1])
        del args[i:i + 2]
    if "--timeout" in args:
        i = args.index("--timeout")
        timeout = float(args[i + 1])
        del args[i:i + 2]
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, count = args[0], int(args[1]), int(args[2])

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    try:
        conns = pco_open_all(host, port, count, inflight, time.monotonic() + timeout)
    except (RuntimeError, OSError) as e:
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
    for s in conns:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
