#!/usr/bin/env python3
# dns_server.py: a tiny DNS server for portico's resolver tests (Python 3 standard library).
#
#   python3 t/lib/dns_server.py --zone FILE [--port N]
#
# Listens on UDP 127.0.0.1:N (N = 0: a free port), prints "ready PORT" on stdout, and answers
# every query from the JSON file FILE, read again for each query (tests rewrite it; write it
# aside and rename, so it is never read half-written):
#   {"mode": "answer",                       # or "servfail", "nxdomain", "drop" (no answer)
#    "names": {"backend.test": {"A": ["127.0.0.1"], "AAAA": ["::1"], "ttl": 1,
#                               "mode": "answer"}}}  # a per-name mode overrides the global
# A name that is not listed gets NXDOMAIN; a listed name without records of the asked type
# an empty NOERROR answer. Each query is appended to FILE.log as "NAME TYPE\n".
# Stops on SIGTERM.

import argparse
import ipaddress
import json
import os
import signal
import socket
import struct
import sys

TYPES = {1: "A", 28: "AAAA"}


def read_zone(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"mode": "servfail", "names": {}}


def parse_question(msg):
    """(id, flags, qname as text, qtype, end of question) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(msg):
            return None
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(msg):
            return None
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(msg):
        return None
    qtype, _qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return qid, flags, ".".join(labels).lower(), qtype, pos + 4


def answer(msg, zone):
    q = parse_question(msg)
    if q is None:
        return None, None
    qid, flags, name, qtype, qend = q
    entry = zone.get("names", {}).get(name)
    mode = (entry or {}).get("mode", zone.get("mode", "answer"))
    line = "%s %s" % (name, TYPES.get(qtype, str(qtype)))
    if mode == "drop":
        return None, line
    rd = flags & 0x0100
    rcode, records = 0, []
    if mode == "servfail":
        rcode = 2
    elif mode == "nxdomain" or entry is None:
        rcode = 3
    else:
        ttl = int(entry.get("ttl", 60))
        for addr in entry.get(TYPES.get(qtype, "-"), []):
            raw = ipaddress.ip_address(addr).packed
            records.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(raw)) + raw)
    head = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1,
                       len(records), 0, 0)
    return head + msg[12:qend] + b"".join(records), line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zone", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", args.port))
    print("ready %d" % s.getsockname()[1], flush=True)
    while True:
        msg, peer = s.recvfrom(4096)
        out, line = answer(msg, read_zone(args.zone))
        if line is not None:
            with open(args.zone + ".log", "a") as f:
                f.write(line + "\n")
        if out is not None:
            s.sendto(out, peer)


if __name__ == "__main__":
    main()
