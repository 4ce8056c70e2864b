#!/usr/bin/env python3
"""syslog_sink.py: a test syslog receiver (t/syslog.t).

    syslog_sink.py --unix PATH --out FILE [--lifetime SECONDS] [--rcvbuf BYTES] [--pause FILE]
    syslog_sink.py --udp PORT --out FILE [--lifetime SECONDS]

Binds a Unix datagram socket at PATH (or UDP 127.0.0.1:PORT), writes FILE.ready once bound,
then appends one JSON object a line to FILE for every datagram received. A datagram in the
strict RFC 5424 form portico sends,
    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
becomes {"pri", "facility", "severity", "timestamp", "hostname", "app", "procid", "msgid",
"msg"} (MSG decoded as Latin-1 so that every byte survives); anything else becomes
{"bad": raw}. While the file given by --pause exists nothing is read (the socket fills up).
Exits after --lifetime seconds (default 120) so that a forgotten sink never lingers.
"""
import argparse
import json
import os
import re
import select
import socket
import sys
import time

RFC5424 = re.compile(
    rb'^<(\d{1,3})>1 '
    rb'(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) '
    rb'([\x21-\x7e]{1,255}) '
    rb'([\x21-\x7e]{1,48}) '
    rb'(\d{1,10}) '
    rb'([\x21-\x7e]{1,32}) '
    rb'- '
    rb'(.*)\Z', re.S)


def parse(data):
    m = RFC5424.match(data)
    if not m:
        return {"bad": data.decode("latin-1")}
    pri = int(m.group(1))
    return {
        "pri": pri, "facility": pri >> 3, "severity": pri & 7,
        "timestamp": m.group(2).decode(), "hostname": m.group(3).decode(),
        "app": m.group(4).decode(), "procid": int(m.group(5)),
        "msgid": m.group(6).decode(), "msg": m.group(7).decode("latin-1"),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unix")
    ap.add_argument("--udp", type=int)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lifetime", type=float, default=120.0)
    ap.add_argument("--rcvbuf", type=int, default=0)
    ap.add_argument("--pause")
    a = ap.parse_args()

    if a.unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(a.unix):
            os.unlink(a.unix)
        if a.rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
        s.bind(a.unix)
        os.chmod(a.unix, 0o777)      # the workers run as nobody
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", a.udp))
    with open(a.out + ".ready", "w") as f:
        f.write("%d\n" % os.getpid())

    end = time.monotonic() + a.lifetime
    with open(a.out, "a") as out:
        while time.monotonic() < end:
            if a.pause and os.path.exists(a.pause):
                time.sleep(0.05)
                continue
            r, _, _ = select.select([s], [], [], 0.2)
            if not r:
                continue
            data = s.recv(65536)
            out.write(json.dumps(parse(data), sort_keys=True) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
