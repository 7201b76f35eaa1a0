#!/usr/bin/env python3
"""Jump-host benchmark, side by side in one run: targets behind one OpenSSH jump sshd.

    bench/jump            # fan-out to 100 and 1,000 simulated targets through the jump, and 100 MB over SFTP
    bench/jump --quick    # 50 targets, 20 MB
    bench/jump --ours-only --baseline OLD-PSSH-BENCH --rounds 5
                          # our engines beside an earlier build's, OpenSSH for reference, 5 rounds of each copy;
                          # prints only

Tools: our client (both engines) direct and through the jump (`jumpHosts`), parallel-ssh's native client with
`proxy_host`, asyncssh with `tunnel=` (one shared jump connection, its best case), and OpenSSH `ssh` with a
`ProxyCommand ssh -W` per target (what `ssh -J` runs; `-J` itself does not pass `-i` to the hop). The targets are
the simulated fleet (`bench/fleet.py`) for the fan-out, and a real sshd for the copies; the jump is a real
sshd on 127.0.0.2 whose log counts the jump connections each tool opened. Figures go to
docs/benchmarks-jump.md; a --quick run prints them only.
"""
import argparse, json, os, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Setup, free_port, markdown_table, random_file, run_measured, ROOT, PEERS  # noqa: E402


class Jump:
    """A jump sshd on 127.0.0.2 for the setup's key and login, logging each accepted login."""

    def __init__(self, setup):
        self.port = free_port()
        self.log = f"{setup.dir}/jump.log"
        config = setup.sshd_config("jump", "127.0.0.2", self.port, ["LogLevel VERBOSE", "AllowTcpForwarding yes"])
        with open(setup.known_hosts, "a") as out:
            key = " ".join(open(f"{setup.dir}/hostkey.pub").read().split()[:2])
            out.write(f"127.0.0.2,[127.0.0.2]:* {key}\n")
        self.process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", config],
                                        stderr=open(self.log, "w"))
        for _ in range(100):
            if "Server listening" in open(self.log).read():
                break
            time.sleep(0.1)
        self.spec = f"{setup.user}@127.0.0.2:{self.port}"

    def logins(self):
        return open(self.log).read().count("Accepted publickey")

    def close(self):
        self.process.terminate()
        self.process.wait()


def openssh_jump(python, setup, jump, workload, n, port, local="", remote=""):
    """OpenSSH through the jump: run.py's OpenSSH mode with a ProxyCommand per target."""
    proxy = (f"ssh -i {setup.key} -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no "
             f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p {jump.port} -W %h:%p {setup.user}@127.0.0.2")
    return [python, os.path.join(ROOT, "bench", "run.py"), "--openssh", json.dumps({
        "key": setup.key, "user": setup.user, "workload": workload, "n": n, "port": port, "local": local,
        "remote": remote, "stream_bytes": 0, "proxy_command": proxy})]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--bench", default=os.path.join(ROOT, ".build", "release", "pssh-bench"))
    parser.add_argument("--timeout", type=int, default=180, help="seconds a tool may take for one run")
    parser.add_argument("--baseline", help="another pssh-bench binary (an earlier commit's), run beside ours as base-*")
    parser.add_argument("--ours-only", action="store_true", help="no parallel-ssh or asyncssh rows (OpenSSH stays)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the copy, interleaved tool by tool")
    options = parser.parse_args()
    fanout_ns = [50] if options.quick else [100, 1000]
    copy_bytes = 20_000_000 if options.quick else 100_000_000

    setup = Setup(options.python, fleet=True)
    jump = Jump(setup)
    results = []

    def ours(engine, workload, n, port, via, binary=None, **paths):
        command = [binary or options.bench, "--workload", workload, "--engine", engine, "--port", str(port), "--user", setup.user,
                   "--key", setup.key, "--hosts", str(n), "--known-hosts", setup.known_hosts]
        if via:
            command += ["--jump", jump.spec]
        for name, value in paths.items():
            command += [f"--{name}", value]
        return command

    def peer(script, workload, n, port, via, **paths):
        command = [options.python, os.path.join(PEERS, script), "--workload", workload, "--port", str(port),
                   "--user", setup.user, "--key", setup.key, "--hosts", str(n)]
        if via:
            command += ["--jump", jump.spec]
        for name, value in paths.items():
            command += [f"--{name}", value]
        return command

    def tools(workload, n, port, **paths):
        listed = []
        for via in (False, True):
            suffix = " via jump" if via else " direct"
            for engine in ("libssh2", "libssh"):
                listed.append((f"swift-{engine}" + suffix, ours(engine, workload, n, port, via, **paths)))
                if options.baseline:
                    listed.append((f"base-{engine}" + suffix,
                                   ours(engine, workload, n, port, via, binary=options.baseline, **paths)))
            if not options.ours_only:
                listed += [
                    ("pssh-libssh2" + suffix, peer("pssh_peer.py", workload, n, port, via, **paths)),
                    ("asyncssh" + suffix, peer("asyncssh_peer.py", workload, n, port, via, **paths)),
                ]
        return listed

    def measure(label, workload, n, command, server_pid):
        before = jump.logins()
        try:
            figures = run_measured(command, server_pid, timeout=options.timeout)
        except subprocess.TimeoutExpired:
            figures = {"error": [f"did not finish within {options.timeout} s (killed)"]}
        figures.update({"label": label, "workload": workload, "n": n, "jump_connections": jump.logins() - before})
        results.append(figures)
        print(row(figures), flush=True)

    try:
        print(header())
        for n in fanout_ns:
            for label, command in tools("fanout", n, setup.fleet_port):
                measure(label, "fanout", n, command, setup.fleet.pid)
            for via in (False, True):
                command = openssh_jump(options.python, setup, jump, "fanout", n, setup.fleet_port)
                if not via:
                    spec = json.loads(command[-1])
                    del spec["proxy_command"]
                    command[-1] = json.dumps(spec)
                measure("openssh" + (" via jump" if via else " direct"), "fanout", n, command, setup.fleet.pid)
        source = random_file(f"{setup.dir}/source", copy_bytes)
        drop = f"{setup.dir}/drop"
        os.makedirs(drop, exist_ok=True)
        os.chmod(drop, 0o777)
        copies = tools("download-sftp", 1, setup.port, local=f"{drop}/copy", remote=source)
        for via in (False, True):
            command = openssh_jump(options.python, setup, jump, "download-sftp", 1, setup.port,
                                   local=f"{drop}/copy", remote=source)
            if not via:
                spec = json.loads(command[-1])
                del spec["proxy_command"]
                command[-1] = json.dumps(spec)
            copies.append(("openssh" + (" via jump" if via else " direct"), command))
        for _ in range(options.rounds):
            for label, command in copies:
                measure(label, "download-sftp", 1, command, setup.sshd.pid)
                for name in os.listdir(drop):
                    os.remove(os.path.join(drop, name))
    finally:
        jump.close()
        setup.close()
    if not options.quick and not options.baseline and not options.ours_only and options.rounds == 1:
        write_docs(results, copy_bytes)


def header():
    return (f"{'tool':<26}{'workload':<15}{'n':>6}{'wall s':>9}{'cpu s':>9}{'cpu/host ms':>13}{'cs/host':>9}"
            f"{'rss MB':>9}{'jump conns':>12}{'ok':>6}")


def row(r):
    if "error" in r:
        return f"{r['label']:<26}{r['workload']:<15}{r['n']:>6}  failed: {r['error']}"
    return (f"{r['label']:<26}{r['workload']:<15}{r['n']:>6}{r['wall']:>9.2f}{r['cpu']:>9.2f}"
            f"{1000 * r['cpu'] / r['n']:>13.2f}{r.get('switches', 0) / r['n']:>9.1f}{r['maxrss_kb'] / 1024:>9.1f}"
            f"{r['jump_connections']:>12}{r['ok']:>6}")


def write_docs(results, copy_bytes):
    lines = ["# Jump-host benchmark", "",
             "Written by `bench/jump` (one run, this machine: 2 cores, shared; compare ratios within the run). Targets",
             "behind one OpenSSH jump sshd on 127.0.0.2: `fanout` runs `uname` on N simulated hosts (the fleet",
             "simulator, ~2 ms of server CPU per connection) through it; `download-sftp` copies "
             f"{copy_bytes // 1_000_000} MB from a real sshd.",
             "CPU is the client's user + system time (for OpenSSH, all its `ssh` processes, hop ones included);",
             "`jump conns` counts the logins the jump sshd accepted during the run.", ""]
    lines += markdown_table(
        ["tool", "workload", "n", "wall s", "client CPU s", "CPU per host ms", "peak RSS MB", "jump conns", "ok"],
        [[r["label"], r["workload"], r["n"], "failed: " + " ".join(r["error"])] if "error" in r else
         [r["label"], r["workload"], r["n"], f"{r['wall']:.2f}", f"{r['cpu']:.2f}", f"{1000 * r['cpu'] / r['n']:.2f}",
          f"{r['maxrss_kb'] / 1024:.1f}", r["jump_connections"], r["ok"]] for r in results])
    lines += ["", "## Ratios", ""]
    by = {(r["label"], r["workload"], r["n"]): r for r in results if "error" not in r}
    for n in sorted({r["n"] for r in results if r["workload"] == "fanout"}):
        for engine in ("swift-libssh2", "swift-libssh"):
            direct, via = by.get((engine + " direct", "fanout", n)), by.get((engine + " via jump", "fanout", n))
            if direct and via:
                lines.append(f"- {engine}, {n} targets: client CPU per target through the jump / direct = "
                             f"{via['cpu'] / direct['cpu']:.2f} (target: at most 1.5)")
            peers = [r for (label, workload, count), r in by.items()
                     if workload == "fanout" and count == n and label.endswith("via jump") and not label.startswith("swift")]
            if via and peers:
                fastest = min(peers, key=lambda r: r["wall"])
                lines.append(f"- {engine}, {n} targets: wall through the jump / fastest peer's ({fastest['label']}) = "
                             f"{via['wall'] / fastest['wall']:.2f} (target: at most 1.0)")
    for engine in ("swift-libssh2", "swift-libssh"):
        direct, via = by.get((engine + " direct", "download-sftp", 1)), by.get((engine + " via jump", "download-sftp", 1))
        if direct and via:
            lines.append(f"- {engine}, SFTP download: wall through the jump / direct = {via['wall'] / direct['wall']:.2f}"
                         " (target: at most 1.3)")
    with open(os.path.join(ROOT, "docs", "benchmarks-jump.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
