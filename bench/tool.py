#!/usr/bin/env python3
"""The fleetsh tool beside the tools operators type, in one run: fleetsh (both engines), pdsh, clush and
Debian's parallel-ssh (pssh), each running `uname` on N host entries of the simulated fleet (`bench/fleet.py`)
with 100 hosts at once and host keys checked, as each would be typed.

    bench/tool            # N = 100 and 1,000; writes docs/benchmarks-tool.md
    bench/tool --quick    # N = 50, prints only

Each tool runs as a child of a small measuring process, so client CPU covers all its processes (for pdsh, clush and
parallel-ssh, one `ssh` per host); peak RSS is the largest single process's.
"""
import argparse, json, os, resource, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Setup, markdown_table, process_cpu, ROOT  # noqa: E402


def measured(command, env=None):
    """Runs `command` in a child measuring process; its wall, CPU of all descendants, peak RSS and exit code."""
    spec = json.dumps({"command": command, "env": env or {}})
    result = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure", spec], capture_output=True, text=True,
                            timeout=900)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": (result.stderr or "no output").strip().splitlines()[-1:]}
    return json.loads(lines[-1])


def measure(spec):
    env = dict(os.environ, **spec["env"])
    started = time.monotonic()
    with open(os.devnull, "w") as devnull:
        p = subprocess.run(spec["command"], stdout=subprocess.PIPE, stderr=devnull, env=env)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in p.stdout.decode(errors="replace").splitlines() if line.strip()]
    print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss,
                      "status": p.returncode, "lines": len(lines)}))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        return measure(json.loads(sys.argv[2]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--fleetsh", default=os.path.join(ROOT, ".build", "release", "fleetsh"))
    options = parser.parse_args()
    ns = [50] if options.quick else [100, 1000]
    setup = Setup(options.python, fleet=True)
    config = f"{setup.dir}/ssh_config"
    with open(config, "w") as f:
        f.write(f"Host h*\n    HostName 127.0.0.1\n    Port {setup.fleet_port}\n    User {setup.user}\n"
                f"    IdentityFile {setup.key}\n    IdentitiesOnly yes\n    UserKnownHostsFile {setup.known_hosts}\n"
                f"    GlobalKnownHostsFile /dev/null\n    StrictHostKeyChecking yes\n    BatchMode yes\n    LogLevel ERROR\n")
    os.chmod(config, 0o600)
    results = []
    try:
        for n in ns:
            hosts = f"{setup.dir}/hosts-{n}"
            with open(hosts, "w") as f:
                f.write("".join(f"h{i}\n" for i in range(1, n + 1)))
            tools = [
                ("fleetsh-libssh2", [options.fleetsh, "-F", config, "-f", hosts, "-P", "100", "--engine", "libssh2", "--", "uname"], {}),
                ("fleetsh-libssh", [options.fleetsh, "-F", config, "-f", hosts, "-P", "100", "--engine", "libssh", "--", "uname"], {}),
                ("pdsh", ["pdsh", "-R", "ssh", "-f", "100", "-w", f"h[1-{n}]", "uname"],
                 {"PDSH_SSH_ARGS": f"-F {config} %h", "PDSH_SSH_ARGS_APPEND": ""}),
                ("clush", ["clush", "-f", "100", "-o", f"-F {config}", "-w", f"h[1-{n}]", "uname"], {}),
                ("parallel-ssh", ["parallel-ssh", "-p", "100", "-t", "0", "-x", f"-F {config}", "-h", hosts, "-i", "uname"], {}),
            ]
            for label, command, env in tools:
                before = process_cpu(setup.fleet.pid)
                figures = measured(command, env)
                time.sleep(1)
                figures.update({"tool": label, "n": n, "fleet_cpu": process_cpu(setup.fleet.pid) - before})
                results.append(figures)
                print(row(figures), flush=True)
    finally:
        setup.close()
    if not options.quick:
        write_docs(results)


def row(r):
    if "error" in r:
        return f"{r['tool']:<18}{r['n']:>6}  failed: {r['error']}"
    return (f"{r['tool']:<18}{r['n']:>6}{r['wall']:>9.2f}{r['cpu']:>9.2f}{1000 * r['cpu'] / r['n']:>10.2f}"
            f"{r['maxrss_kb'] / 1024:>9.1f}{r['lines']:>7}{r['status']:>5}{r['fleet_cpu']:>9.2f}")


def write_docs(results):
    lines = ["# The tool beside pdsh, clush and parallel-ssh", "",
             "Written by `bench/tool` (one run, this machine: 2 cores, shared). Each tool runs `uname` on N host entries",
             "of the simulated fleet (`bench/fleet.py`, ~2 ms of server CPU per connection), 100 at once, host keys",
             "checked against the same known_hosts, from the same ssh_config. Client CPU covers every process of the tool",
             "(pdsh, clush and parallel-ssh run one `ssh` per host); RSS is the largest single process's; `lines` counts",
             "output lines (one per host expected, pssh's `-i` adds a header per host); `fleet CPU` is the server's.", ""]
    lines += markdown_table(
        ["tool", "n", "wall s", "client CPU s", "CPU per host ms", "peak RSS MB", "lines", "exit", "fleet CPU s"],
        [[r["tool"], r["n"], "failed: " + " ".join(r["error"])] if "error" in r else
         [r["tool"], r["n"], f"{r['wall']:.2f}", f"{r['cpu']:.2f}", f"{1000 * r['cpu'] / r['n']:.2f}",
          f"{r['maxrss_kb'] / 1024:.1f}", r["lines"], r["status"], f"{r['fleet_cpu']:.2f}"] for r in results])
    lines += ["", "## Ratios", ""]
    for n in sorted({r["n"] for r in results}):
        ok = [r for r in results if r["n"] == n and "error" not in r]
        peers = [r for r in ok if not r["tool"].startswith("fleetsh")]
        for ours in (r for r in ok if r["tool"].startswith("fleetsh")):
            if peers:
                fastest = min(peers, key=lambda r: r["wall"])
                cheapest = min(peers, key=lambda r: r["cpu"])
                lines.append(f"- {ours['tool']}, {n} hosts: wall / fastest peer's ({fastest['tool']}) = "
                             f"{ours['wall'] / fastest['wall']:.2f}; client CPU / least peer's ({cheapest['tool']}) = "
                             f"{ours['cpu'] / cheapest['cpu']:.3f}")
    with open(os.path.join(ROOT, "docs", "benchmarks-tool.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
