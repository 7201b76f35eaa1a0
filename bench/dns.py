#!/usr/bin/env python3
"""Name lookups at fleet scale: the simulated fleet reached through host names that a DNS server answers after a
set delay, as a fleet named in DNS is reached through a resolver some milliseconds away.

    bench/dns [--hosts 1000] [--delay-ms 20] [--engine libssh2] [--baseline PSSH_BENCH] [--rounds 3]

As root only: everything runs in a network namespace of its own, whose /etc/resolv.conf (`ip netns exec` mounts
/etc/netns/NAME/resolv.conf over it) names a DNS server on its own loopback; no query leaves the machine. The DNS
server answers every name under `fleet.test` with 127.0.0.1 after `--delay-ms`, many queries at once (it never
waits for one answer before taking the next query); the fleet (bench/fleet.py) listens on 127.0.0.1 there. Every
host entry is the name `fleet.test`, looked up again for each connection (glibc keeps no cache).

Prints, per build and round, wall time, client CPU and the lookups per second the run sustained; a lower bound for
the wall time is the lookups' own (hosts x delay / lookup threads).
"""
import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def serve_dns(delay):
    """A DNS server on 127.0.0.1:53 answering A queries under fleet.test with 127.0.0.1 after `delay` seconds, and
    everything else (AAAA included) with an empty NOERROR, each answer on its own timer."""

    class Protocol(asyncio.DatagramProtocol):
        def connection_made(self, transport):
            self.transport = transport

        def datagram_received(self, data, address):
            asyncio.get_running_loop().call_later(delay, self.answer, data, address)

        def answer(self, data, address):
            if len(data) < 12:
                return
            ident, _flags, qdcount = struct.unpack("!HHH", data[:6])
            offset, labels = 12, []
            while offset < len(data) and data[offset] != 0:
                length = data[offset]
                labels.append(data[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
                offset += 1 + length
            question = data[12 : offset + 5]
            qtype = struct.unpack("!H", data[offset + 1 : offset + 3])[0] if offset + 3 <= len(data) else 0
            name = ".".join(labels).lower()
            answers = b""
            count = 0
            if qtype == 1 and (name == "fleet.test" or name.endswith(".fleet.test")):
                answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
                count = 1
            header = struct.pack("!HHHHHH", ident, 0x8180, qdcount, count, 0, 0)
            self.transport.sendto(header + question + answers, address)

    async def main():
        await asyncio.get_running_loop().create_datagram_endpoint(Protocol, local_addr=("127.0.0.1", 53))
        print("listening", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def run(args):
    if os.geteuid() != 0:
        sys.exit("bench/dns needs root (a network namespace with its own resolv.conf)")
    namespace = f"pssh-dns-{os.getpid()}"
    etc = f"/etc/netns/{namespace}"
    work = tempfile.mkdtemp(prefix="pssh-dns-")
    children = []
    try:
        os.makedirs(etc)
        with open(f"{etc}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:5 attempts:1\n")
        subprocess.run(["ip", "netns", "add", namespace], check=True)
        inside = ["ip", "netns", "exec", namespace]
        subprocess.run(inside + ["ip", "link", "set", "lo", "up"], check=True)
        for name in ("hostkey", "key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{work}/{name}"], check=True)
        shutil.copy(f"{work}/key.pub", f"{work}/authorized_keys")
        host_key = open(f"{work}/hostkey.pub").read().split()[:2]
        with open(f"{work}/known_hosts", "w") as f:
            f.write(f"[fleet.test]:{42600} {host_key[0]} {host_key[1]}\n")
        dns = subprocess.Popen(
            inside + [sys.executable, os.path.abspath(__file__), "--serve-dns", str(args.delay_ms)],
            stdout=subprocess.PIPE, text=True)
        children.append(dns)
        dns.stdout.readline()
        port = 42600
        fleet = subprocess.Popen(
            inside + [args.python, f"{HERE}/fleet.py", str(port), f"{work}/hostkey", f"{work}/authorized_keys"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.append(fleet)
        probe = inside + [sys.executable, "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)"]
        for _ in range(100):
            if subprocess.run(probe, stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.1)
        builds = [("this build", args.binary)] + ([("baseline", args.baseline)] if args.baseline else [])
        print(f"{args.hosts} hosts named in DNS, answers after {args.delay_ms} ms, engine {args.engine}")
        for round_number in range(1, args.rounds + 1):
            for label, binary in builds:
                command = inside + [
                    binary, "--workload", "fanout", "--engine", args.engine, "--host", "fleet.test",
                    "--port", str(port), "--user", "bench", "--key", f"{work}/key", "--hosts", str(args.hosts),
                    "--known-hosts", f"{work}/known_hosts",
                ]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.monotonic()
                result = subprocess.run(command, capture_output=True, text=True)
                wall = time.monotonic() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                try:
                    ok = json.loads(result.stdout.strip().splitlines()[-1]).get("ok")
                except (ValueError, IndexError):
                    ok = f"failed: {result.stderr.strip()[-300:]}"
                print(
                    f"round {round_number} {label:10s} wall {wall:6.2f} s  CPU {cpu:5.2f} s  "
                    f"{args.hosts / wall:7.0f} hosts/s  ok {ok}", flush=True)
    finally:
        for child in children:
            child.kill()
            child.wait()
        subprocess.run(["ip", "netns", "delete", namespace], stderr=subprocess.DEVNULL)
        shutil.rmtree(etc, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve-dns", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=20)
    parser.add_argument("--engine", default="libssh2", choices=["libssh2", "libssh"])
    parser.add_argument("--binary", default=f"{ROOT}/.build/release/pssh-bench")
    parser.add_argument("--baseline", help="another pssh-bench to run beside this one, round by round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="a Python with asyncssh, for the fleet")
    args = parser.parse_args()
    if args.serve_dns is not None:
        serve_dns(args.serve_dns / 1000)
    else:
        run(args)


if __name__ == "__main__":
    main()
