#!/usr/bin/env python3
"""100,000 hosts from one process: `uname` on N entries of the simulated fleet (`bench/fleet.py`,
about 2 ms of server CPU per connection), run as several fleet processes on several 127.0.0.x addresses so that
neither one fleet core nor one address's ephemeral ports bounds the run, under this machine's open-file limit.
Our side is pssh-bench's `sweep` (ParallelRun.forEachHost, 1,000 hosts at once, each connection closed when its
host is done); peers run their usual fan-out (every host at once) against the first fleet address.

    bench/hundred            # N = 10,000 and 100,000; writes docs/benchmarks-hundred.md
    bench/hundred --quick    # N = 2,000, prints only
    bench/hundred --baseline OLD-PSSH-BENCH --peers-at
                             # our engines beside an earlier build's (base-*), no peers; prints only
"""
import argparse, os, resource, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Setup, context_switches, markdown_table, process_cpu, run_json, write_page, FLEET, ROOT  # noqa: E402

BENCH = os.path.join(ROOT, ".build", "release", "pssh-bench")
PEERS = os.path.join(ROOT, "bench", "peers")
ADDRESSES = [f"127.0.0.{21 + i}" for i in range(8)]


def free_port_everywhere():
    import socket
    for _ in range(50):
        s = socket.socket()
        s.bind((ADDRESSES[0], 0))
        port = s.getsockname()[1]
        s.close()
        try:
            for address in ADDRESSES[1:]:
                t = socket.socket()
                t.bind((address, port))
                t.close()
            return port
        except OSError:
            continue
    raise SystemExit("no port free on every fleet address")


def wait_listening(address, port):
    import socket
    for _ in range(300):
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the fleet on {address}:{port} did not start")


def measured(command, fleet, timeout):
    before = sum(process_cpu(p.pid, reaped=False) for p in fleet)
    switches = context_switches()
    result = run_json(command, timeout)
    result["switches"] = context_switches() - switches
    time.sleep(1)
    result["fleet_cpu"] = sum(process_cpu(p.pid, reaped=False) for p in fleet) - before
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--peers-at", type=int, nargs="*", default=None, help="N values the peers run at")
    parser.add_argument("--baseline", help="another pssh-bench binary (an earlier commit's), run beside ours as base-*")
    options = parser.parse_args()
    ns = [2000] if options.quick else [10_000, 100_000]
    peer_ns = options.peers_at if options.peers_at is not None else ([2000] if options.quick else [10_000])
    setup = Setup(options.python, fleet=False)
    with open(f"{setup.dir}/hostkey.pub") as public:
        key = " ".join(public.read().split()[:2])
    with open(setup.known_hosts, "w") as out:
        out.write(f"127.0.0.*,[127.0.0.*]:* {key}\n")
    port = free_port_everywhere()
    fleet = [subprocess.Popen([options.python, FLEET, "--address", address, str(port), f"{setup.dir}/hostkey",
                               f"{setup.dir}/authorized_keys"], stderr=subprocess.DEVNULL) for address in ADDRESSES]
    rows = []
    try:
        for address in ADDRESSES:
            wait_listening(address, port)
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)
        for n in ns:
            builds = [("swift", BENCH)] + ([("base", options.baseline)] if options.baseline else [])
            for (build, binary), engine in ((b, e) for e in ("libssh2", "libssh") for b in builds):
                command = [binary, "--workload", "sweep", "--engine", engine, "--hosts", str(n), "--addresses",
                           ",".join(ADDRESSES), "--port", str(port), "--user", setup.user, "--key", setup.key,
                           "--known-hosts", setup.known_hosts, "--concurrency", "1000"]
                rows.append((f"{build}-{engine}", n, measured(command, fleet, timeout=3600)))
                print(rows[-1], file=sys.stderr)
            if n in peer_ns:
                peer = ["--workload", "fanout", "--host", ADDRESSES[0], "--port", str(port), "--user", setup.user,
                        "--key", setup.key, "--hosts", str(n)]
                for tool, script in (("pssh-libssh2", "pssh_peer.py"), ("asyncssh", "asyncssh_peer.py")):
                    rows.append((tool, n, measured([options.python, os.path.join(PEERS, script)] + peer, fleet,
                                                   timeout=1200)))
                    print(rows[-1], file=sys.stderr)
    finally:
        for p in fleet:
            p.terminate()
        for p in fleet:
            p.wait()
        setup.close()
    table = []
    for tool, n, r in rows:
        if "cpu" in r:
            table.append([tool, f"{n:,}", f"{r['ok']:,}", f"{r['wall']:.1f}", f"{r['cpu']:.1f}",
                          f"{1000 * r['cpu'] / n:.2f}", f"{r['switches'] / n:.1f}", f"{r['maxrss_kb'] / 1024:.0f}",
                          f"{r['fleet_cpu']:.1f}",
                          f"{r['wall'] / (r['fleet_cpu'] / os.cpu_count()):.2f}" if r["fleet_cpu"] > 0 else ""])
        else:
            table.append([tool, f"{n:,}", "0", r.get("error", "failed"), "", "", "", "", f"{r['fleet_cpu']:.1f}", ""])
    lines = [f"`uname` on N entries spread over {len(ADDRESSES)} fleet processes ({ADDRESSES[0]} to {ADDRESSES[-1]}), "
             f"open-file limit {limit[0]:,}, {os.cpu_count()} cores shared by the client and the fleet. Ours: a "
             "streaming run, 1,000 hosts at once; peers: every host at once on the first fleet address. The last column "
             "is wall / (fleet CPU / cores): the target is at most 1.2.", ""]
    lines += markdown_table(["Tool", "N", "Succeeded", "Wall s", "Client CPU s", "CPU per host ms",
                             "Context switches per host", "Peak RSS MB",
                             "Fleet CPU s", "Wall / (fleet CPU / cores)"], table)
    text = "\n".join(lines)
    print(text)
    if not options.quick and not options.baseline:
        write_page("benchmarks-hundred.md", "100,000 hosts from one process",
                   "Made by `bench/hundred` (bench/hundred.py); one run on this machine.", text)


if __name__ == "__main__":
    main()
