#!/usr/bin/env python3
"""The fleetsh tool beside the tools operators type, in one run: fleetsh (both engines), pdsh, clush and
Debian's parallel-ssh (pssh), each running `uname` on N host entries of the simulated fleet (`bench/fleet.py`)
with 100 hosts at once and host keys checked, as each would be typed.

    bench/tool            # N = 100 and 1,000; then 100 entries of OpenSSH's sshd; writes docs/benchmarks-tool.md
    bench/tool --quick    # N = 50, then 20 entries of sshd; prints only

Against the sshd, two columns: every tool at its defaults (its own fan-out, ssh's own key exchange:
sntrup761x25519 on OpenSSH 9.2, which neither engine negotiates), and every tool with the same key exchange
(curve25519-sha256) and fan-out (100).

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


LOAD = os.getloadavg()


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
    results, sshd_results, kex = [], [], {}
    try:
        config = write_config(setup, f"{setup.dir}/ssh_config", setup.fleet_port, "h")
        for n in ns:
            hosts = write_hosts(setup, f"{setup.dir}/hosts-{n}", "h", n)
            for label, command, env in commands(options, n, "h", hosts, config, fanout=100):
                figures = measure_tool(setup, setup.fleet.pid, label, command, env, n)
                results.append(figures)
                print(row(figures), flush=True)
        # OpenSSH's sshd, which offers ssh's default key exchange (sntrup761x25519 in OpenSSH 9.2), that neither
        # engine can negotiate: each tool at its defaults, then all with curve25519-sha256 and the same fan-out.
        n = 20 if options.quick else 100
        hosts = write_hosts(setup, f"{setup.dir}/sshd-hosts-{n}", "s", n)
        for column, extra, fanout in (("defaults", "", None), ("same", "    KexAlgorithms curve25519-sha256\n", 100)):
            config = write_config(setup, f"{setup.dir}/ssh_config_{column}", setup.port, "s", extra)
            kex[column] = negotiated_kex(config)
            for label, command, env in commands(options, n, "s", hosts, config, fanout):
                figures = measure_tool(setup, setup.sshd.pid, label, command, env, n)
                figures["column"] = column
                sshd_results.append(figures)
                print(f"{column:<9}" + row(figures), flush=True)
    finally:
        setup.close()
    if not options.quick:
        write_docs(results, sshd_results, kex)


def write_config(setup, path, port, prefix, extra=""):
    """An ssh_config naming every `<prefix>N` entry 127.0.0.1:`port`, host keys checked, with `extra` lines."""
    with open(path, "w") as f:
        f.write(f"Host {prefix}*\n    HostName 127.0.0.1\n    Port {port}\n    User {setup.user}\n"
                f"    IdentityFile {setup.key}\n    IdentitiesOnly yes\n    UserKnownHostsFile {setup.known_hosts}\n"
                f"    GlobalKnownHostsFile /dev/null\n    StrictHostKeyChecking yes\n    BatchMode yes\n    LogLevel ERROR\n"
                + extra)
    os.chmod(path, 0o600)
    return path


def write_hosts(setup, path, prefix, n):
    with open(path, "w") as f:
        f.write("".join(f"{prefix}{i}\n" for i in range(1, n + 1)))
    return path


def commands(options, n, prefix, hosts, config, fanout):
    """Each tool's command line for `uname` on `<prefix>1..n`; `fanout` None leaves each tool's own default."""
    def flag(name):
        return [name, str(fanout)] if fanout else []
    return [
        ("fleetsh-libssh2", [options.fleetsh, "-F", config, "-f", hosts, *flag("-P"), "--engine", "libssh2", "--", "uname"], {}),
        ("fleetsh-libssh", [options.fleetsh, "-F", config, "-f", hosts, *flag("-P"), "--engine", "libssh", "--", "uname"], {}),
        ("pdsh", ["pdsh", "-R", "ssh", *flag("-f"), "-w", f"{prefix}[1-{n}]", "uname"],
         {"PDSH_SSH_ARGS": f"-F {config} %h", "PDSH_SSH_ARGS_APPEND": ""}),
        ("clush", ["clush", *flag("-f"), "-o", f"-F {config}", "-w", f"{prefix}[1-{n}]", "uname"], {}),
        ("parallel-ssh", ["parallel-ssh", *flag("-p"), "-t", "0", "-x", f"-F {config}", "-h", hosts, "-i", "uname"], {}),
    ]


def measure_tool(setup, server_pid, label, command, env, n):
    before = process_cpu(server_pid)
    figures = measured(command, env)
    time.sleep(1)
    figures.update({"tool": label, "n": n, "fleet_cpu": process_cpu(server_pid) - before})
    return figures


def negotiated_kex(config):
    """The key exchange `ssh -F config` negotiates with the first entry, from its debug lines."""
    p = subprocess.run(["ssh", "-F", config, "-v", "-o", "LogLevel=DEBUG1", "s1", "true"], capture_output=True, text=True,
                       timeout=60)
    for line in p.stderr.splitlines():
        if "kex: algorithm:" in line:
            return line.split("kex: algorithm:", 1)[1].strip()
    return "unknown"


def row(r):
    if "error" in r:
        return f"{r['tool']:<18}{r['n']:>6}  failed: {r['error']}"
    return (f"{r['tool']:<18}{r['n']:>6}{r['wall']:>9.2f}{r['cpu']:>9.2f}{1000 * r['cpu'] / r['n']:>10.2f}"
            f"{r['maxrss_kb'] / 1024:>9.1f}{r['lines']:>7}{r['status']:>5}{r['fleet_cpu']:>9.2f}")


def write_docs(results, sshd_results, kex):
    lines = ["# The tool beside pdsh, clush and parallel-ssh", "",
             "Written by `bench/tool` (one run, this machine: 2 cores, shared). Each tool runs `uname` on N host entries",
             "of the simulated fleet (`bench/fleet.py`, ~2 ms of server CPU per connection), 100 at once, host keys",
             "checked against the same known_hosts, from the same ssh_config. Client CPU covers every process of the tool",
             "(pdsh, clush and parallel-ssh run one `ssh` per host); RSS is the largest single process's; `lines` counts",
             "output lines (one per host expected, pssh's `-i` adds a header per host); `fleet CPU` is the server's.",
             "", f"Load average when the run began: {LOAD[0]:.1f} (anything else running on the 2 cores inflates walls far more "
             "than CPU per host).", ""]
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
    lines += ["", "## Against OpenSSH's sshd: defaults, and the same key exchange and fan-out", "",
              f"The same `uname` on {sshd_results[0]['n'] if sshd_results else 0} entries of one OpenSSH sshd on 127.0.0.1 "
              "(which costs the server far more per connection than the fleet). **defaults**: each tool as typed, with its "
              f"own fan-out (pdsh 32, clush 64, parallel-ssh 32, fleetsh 100) and ssh's own key exchange ({kex.get('defaults')}); "
              f"**same**: every tool at fan-out 100 with `KexAlgorithms curve25519-sha256` ({kex.get('same')}). Neither of our "
              "engines can negotiate sntrup761x25519, so they use curve25519-sha256 in both columns: the defaults column "
              "flatters them by the post-quantum exchange's cost; the same column compares like with like.", ""]
    tools = [r["tool"] for r in sshd_results if r.get("column") == "defaults"]

    def cell(tool, column, key):
        found = [r for r in sshd_results if r["tool"] == tool and r.get("column") == column]
        if not found or "error" in found[0]:
            return "failed"
        r = found[0]
        return {"wall": f"{r['wall']:.2f}", "cpu": f"{r['cpu']:.2f}", "per": f"{1000 * r['cpu'] / r['n']:.1f}"}[key]
    lines += markdown_table(
        ["tool", "defaults: wall s", "client CPU s", "CPU per host ms", "same: wall s", "client CPU s", "CPU per host ms"],
        [[tool] + [cell(tool, c, k) for c in ("defaults", "same") for k in ("wall", "cpu", "per")] for tool in tools])
    with open(os.path.join(ROOT, "docs", "benchmarks-tool.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
