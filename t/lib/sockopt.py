#!/usr/bin/env python3
"""sockopt.py PID PEER_PORT: prints TCP_NODELAY (0 or 1) of the TCP socket that process PID
holds for the loopback connection whose far end is PEER_PORT (the test's client socket).

The descriptor is borrowed with pidfd_getfd(2) (Linux 5.6, root or ptrace rights), so the
option is read from the socket itself, not guessed from timing. Exit 2 when not found, 3
when the kernel refuses to lend the descriptor (the caller skips)."""
import ctypes
import os
import socket
import sys

SYS_PIDFD_GETFD = 438          # x86_64 and aarch64 alike


def socket_inode(pid, peer_port):
    """The inode of the socket in /proc/PID/net/tcp{,6} whose remote port is peer_port."""
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                    # established (01) and owned: a closed connection in TIME_WAIT may
                    # have had the same far port
                    if remote_port == peer_port and fields[3] == "01" and fields[9] != "0":
                        return fields[9]
        except FileNotFoundError:
            continue
    return None


def fd_of_inode(pid, inode):
    want = "socket:[%s]" % inode
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, name)) == want:
                return int(name)
        except OSError:
            continue
    return None


def main():
    pid, peer_port = int(sys.argv[1]), int(sys.argv[2])
    inode = socket_inode(pid, peer_port)
    fd = fd_of_inode(pid, inode) if inode is not None else None
    if fd is None:
        print("not found")
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        local = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    finally:
        os.close(pidfd)
    if local < 0:
        print("pidfd_getfd: %s" % os.strerror(ctypes.get_errno()))
        return 3
    s = socket.socket(fileno=local)
    try:
        print(1 if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) else 0)
    finally:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
