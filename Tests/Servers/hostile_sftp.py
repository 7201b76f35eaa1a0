#!/usr/bin/env python3
"""A hostile SFTP version 3 server for the security tests, run by sshd as the sftp subsystem.

Modes (first argument):
  endless  every path is a directory whose listing never ends (READDIR always answers with more names)
  escape   every STAT and OPEN fails with a status message full of terminal escape sequences
"""
import struct
import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "endless"
IN = sys.stdin.buffer
OUT = sys.stdout.buffer
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31mgone\x1b[0m\r\n"


def read_exact(count):
    data = b""
    while len(data) < count:
        chunk = IN.read(count - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data


def string(value):
    if isinstance(value, str):
        value = value.encode()
    return struct.pack(">I", len(value)) + value


def send(kind, payload):
    OUT.write(struct.pack(">IB", len(payload) + 1, kind) + payload)
    OUT.flush()


def status(request, code, message):
    send(101, struct.pack(">II", request, code) + string(message) + string(""))


def main():
    counter = 0
    while True:
        length = struct.unpack(">I", read_exact(4))[0]
        packet = read_exact(length)
        kind = packet[0]
        if kind == 1:  # INIT
            send(2, struct.pack(">I", 3))
            continue
        request = struct.unpack(">I", packet[1:5])[0]
        if MODE == "escape" and kind in (3, 7, 17, 11):  # OPEN, LSTAT, STAT, OPENDIR
            status(request, 4, ESCAPES)
        elif kind == 16:  # REALPATH
            send(104, struct.pack(">II", request, 1) + string("/") + string("/") + struct.pack(">I", 0))
        elif kind in (7, 17):  # LSTAT, STAT: a directory
            send(105, struct.pack(">III", request, 0x4, 0o040755))
        elif kind == 11:  # OPENDIR
            send(102, struct.pack(">I", request) + string("dir"))
        elif kind == 12:  # READDIR: 100 more names of 1,000 bytes, for ever
            names = b""
            for _ in range(100):
                counter += 1
                name = ("f%09d" % counter).ljust(1000, "x")
                names += string(name) + string(name) + struct.pack(">I", 0)
            send(104, struct.pack(">II", request, 100) + names)
        elif kind == 4:  # CLOSE
            status(request, 0, "")
        else:
            status(request, 8, "unsupported")


main()
