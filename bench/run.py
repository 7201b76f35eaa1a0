#!/usr/bin/env python3
"""Benchmarks our library (both engines) side by side with Python parallel-ssh (both clients), asyncssh and
OpenSSH, in one run, against a loopback sshd this script starts (and the simulated fleet for scale).

    bench/run            # full run (takes a while), writes docs/benchmarks.md and docs/benchmarks.png
    bench/run --quick    # small sizes, table only

Each tool runs as its own process and reports its own figures (wall time, client CPU, peak RSS, threads) as one
JSON line; OpenSSH's processes are measured from here. The sshd's (or fleet's) CPU over each run is read from
/proc, so a reader can tell when the server, not the client, was the bottleneck.
"""
import argparse, json, os, platform, pwd, resource, shutil, signal, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")
FLEET = os.path.join(ROOT, "bench", "fleet.py")
BENCH_USER = "pssh-bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu(pid, reaped=True):
    """CPU seconds of a process, plus those of its reaped children unless `reaped` is false."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in ((11, 12, 13, 14) if reaped else (11, 12)))
    return ticks / os.sysconf("SC_CLK_TCK")


class Setup:
    """Keys, a login account, a loopback sshd and (optionally) the simulated fleet."""

    def __init__(self, python, fleet):
        self.dir = tempfile.mkdtemp(prefix="pssh-bench-")
        os.chmod(self.dir, 0o755)
        for name in ("key", "hostkey"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{self.dir}/{name}"], check=True)
        shutil.copy(f"{self.dir}/key.pub", f"{self.dir}/authorized_keys")
        os.chmod(f"{self.dir}/authorized_keys", 0o644)
        self.key = f"{self.dir}/key"
        # Our client checks host keys (as a user would run it): the sshd, the fleet and the delay proxy all
        # present this host key on 127.0.0.1.
        with open(f"{self.dir}/hostkey.pub") as public:
            key = " ".join(public.read().split()[:2])
        self.known_hosts = f"{self.dir}/known_hosts"
        with open(self.known_hosts, "w") as out:
            out.write(f"127.0.0.1,[127.0.0.1]:* {key}\n")
        self.user = self.login_user()
        # A login other than ours runs only the server's session processes, which can then be sampled.
        uid = pwd.getpwnam(self.user).pw_uid
        self.session_uid = uid if uid != os.getuid() else None
        # The client key is readable by the client only; the sshd reads authorized_keys as the login user.
        self.port = free_port()
        config = self.sshd_config("sshd", "127.0.0.1", self.port, ["PrintMotd no", "PrintLastLog no", "LogLevel ERROR",
                                                                    "Subsystem sftp internal-sftp"])
        os.makedirs("/run/sshd", exist_ok=True)
        self.sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", config], stderr=subprocess.DEVNULL)
        wait_listening(self.port)
        self.fleet = None
        if fleet:
            self.fleet_port = free_port()
            self.fleet = subprocess.Popen([python, FLEET, str(self.fleet_port), f"{self.dir}/hostkey",
                                           f"{self.dir}/authorized_keys"], stderr=subprocess.DEVNULL)
            wait_listening(self.fleet_port)

    def sshd_config(self, name, address, port, extra):
        """Writes `<name>_config` for an sshd on `address:port` with this setup's host key and authorized keys."""
        config = f"{self.dir}/{name}_config"
        with open(config, "w") as f:
            f.write("\n".join([
                f"Port {port}", f"ListenAddress {address}", f"HostKey {self.dir}/hostkey",
                f"PidFile {self.dir}/{name}.pid", f"AuthorizedKeysFile {self.dir}/authorized_keys", "StrictModes no",
                "UsePAM no", "PermitRootLogin yes", "MaxStartups 20000:100:20000", "MaxSessions 20000", "UseDNS no"]
                + extra) + "\n")
        return config

    def login_user(self):
        """A non-root account with a plain shell when run as root (root's shell start-up files would cost every
        command and blur the server's figures), else the current user."""
        if os.getuid() != 0:
            return pwd.getpwuid(os.getuid()).pw_name
        try:
            pwd.getpwnam(BENCH_USER)
        except KeyError:
            subprocess.run(["useradd", "--no-create-home", "--home-dir", "/tmp", "--shell", "/bin/sh", BENCH_USER],
                           check=True)
        # No password login, but not "locked" either (sshd refuses key logins to locked accounts).
        subprocess.run(["usermod", "-p", "*", BENCH_USER], check=True)
        return BENCH_USER

    def close(self):
        for process in (self.sshd, self.fleet):
            if process:
                process.terminate()
                process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_json(command, timeout=1800):
    """Runs one tool process and returns the last JSON line it printed, or {"error": why} (its last message line,
    or that it was killed at `timeout`)."""
    try:
        p = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {timeout} s"}
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": ((p.stderr or p.stdout).strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(lines[-1])


def markdown_table(header, rows):
    """A Markdown table: `header` cells, then one line per row (a row may be shorter: the rest left empty)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(cell) for cell in row] + [""] * (len(header) - len(row))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def wait_listening(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on port {port}")


def random_file(path, size):
    """Writes `size` random bytes to `path` (world-readable), 1 MiB at a time: this process's own peak memory is
    inherited by every process it starts (see NOTES), so it must stay small."""
    with open(path, "wb") as f:
        while size:
            chunk = os.urandom(min(size, 1 << 20))
            f.write(chunk)
            size -= len(chunk)
    os.chmod(path, 0o644)
    return path


def run_interleaved(commands, server_pid, times=3, before_each=None, session_uid=None):
    """Runs each (label, command) `times` times, in rounds that take every tool once, so drift on this shared,
    noisy machine (another process, disk write-back) falls on all tools alike; `before_each` runs, untimed, before
    every run. Per label, the run with the median wall time counts."""
    runs = {label: [] for label, _ in commands}
    for _ in range(times):
        for label, command in commands:
            if before_each:
                before_each()
            runs[label].append(run_measured(command, server_pid, session_uid=session_uid))
    medians = {}
    for label, measured in runs.items():
        good = sorted((r for r in measured if "error" not in r), key=lambda r: r["wall"])
        medians[label] = good[len(good) // 2] if good else measured[-1]
    return medians


class SessionSampler(threading.Thread):
    """Samples, every 20 ms, the CPU of the processes owned by `uid`: the sshd session processes of a non-root login,
    which the listener never reaps into its own figures. Each process counts with its last sample (up to 20 ms of
    its end can be missed)."""

    def __init__(self, uid):
        super().__init__(daemon=True)
        self.uid, self.seen, self.ignored, self.done = uid, {}, set(), threading.Event()

    def run(self):
        while not self.done.wait(0.02):
            for name in os.listdir("/proc"):
                if not name.isdigit() or name in self.ignored:
                    continue
                try:
                    if os.stat(f"/proc/{name}").st_uid != self.uid:
                        self.ignored.add(name)
                        continue
                    self.seen[name] = process_cpu(int(name), reaped=False)
                except OSError:
                    pass

    def stop(self):
        self.done.set()
        self.join()
        return sum(self.seen.values())


def run_measured(command, server_pid, timeout=1800, session_uid=None):
    """Runs one tool process; returns its JSON figures plus the server's CPU over the run (with `session_uid`, also
    that of the login's session processes, sampled)."""
    os.sync()  # the previous run's written files go to disk now, not during this run
    server_before = process_cpu(server_pid)
    sampler = SessionSampler(session_uid) if session_uid is not None else None
    if sampler:
        sampler.start()
    switches_before = context_switches()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    switches = context_switches() - switches_before
    time.sleep(1)  # the server's per-connection processes end, and are reaped, just after the client
    server_cpu = process_cpu(server_pid) - server_before + (sampler.stop() if sampler else 0)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.stderr.strip() and lines:
        print("    " + result.stderr.strip().replace("\n", "\n    "), file=sys.stderr)
    if result.returncode != 0 or not lines:
        return {"error": (result.stderr or result.stdout).strip().splitlines()[-1:] or ["failed"], "server_cpu": server_cpu}
    figures = json.loads(lines[-1])
    figures["server_cpu"] = server_cpu
    figures["switches"] = switches
    return figures


def context_switches():
    """Context switches (voluntary and involuntary) of this process's children that ended and were waited for:
    across one `subprocess.run`, those of the tool's process and of every process it waited for (OpenSSH's ssh
    processes, through the wrapper). Each is a thread going to sleep or being preempted: a wake-up hopping between
    threads costs one or two."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_nvcsw + usage.ru_nivcsw


def openssh_command(python, setup, workload, n, port, local="", remote="", stream_bytes=0):
    """This script in OpenSSH mode, as its own process, so the figures cover only OpenSSH's processes."""
    return [python, os.path.abspath(__file__), "--openssh", json.dumps({
        "key": setup.key, "user": setup.user, "workload": workload, "n": n, "port": port, "local": local,
        "remote": remote, "stream_bytes": stream_bytes})]


def run_openssh(spec):
    """OpenSSH's ssh/scp processes (CPU of all of them; peak RSS of the largest one), printed as one JSON line."""
    workload, n, port, local, remote = spec["workload"], spec["n"], spec["port"], spec["local"], spec["remote"]
    stream_bytes = spec["stream_bytes"]
    base = ["-i", spec["key"], "-p", str(port), "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
    if spec.get("proxy_command"):  # bench/jump: through a jump host
        base += ["-o", "ProxyCommand=" + spec["proxy_command"]]
    target = f"{spec['user']}@127.0.0.1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    ok = 0
    if workload == "fanout":
        processes, running = [], []
        for _ in range(n):
            while len(running) >= 200:
                running = [p for p in running if p.poll() is None]
                if len(running) >= 200:
                    time.sleep(0.005)
            p = subprocess.Popen(["ssh"] + base + [target, "uname"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            processes.append(p)
            running.append(p)
        for p in processes:
            out, _ = p.communicate()
            ok += p.returncode == 0 and out.strip() != b""
    elif workload == "stream":
        command = "head -c %d /dev/zero | tr '\\0' 'x' | fold -w 99" % stream_bytes
        p = subprocess.run(["ssh"] + base + [target, command], capture_output=True)
        lines = p.stdout.count(b"\n") + (0 if p.stdout.endswith(b"\n") else 1)
        ok = int(lines == (stream_bytes + 98) // 99)
    else:
        scp = ["scp", "-q"] + (["-O"] if workload.endswith("scp") else []) + base
        scp[scp.index("-p")] = "-P"
        if workload.startswith("upload"):
            p = subprocess.run(scp + [local, f"{target}:{remote}"], capture_output=True)
        else:
            p = subprocess.run(scp + [f"{target}:{remote}", local], capture_output=True)
        ok = int(p.returncode == 0)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"tool": "openssh", "workload": workload, "n": n, "wall": wall,
                      "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
                      "maxrss_kb": after.ru_maxrss, "threads": 1, "ok": ok, "failed": n - ok}))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--openssh":
        return run_openssh(json.loads(sys.argv[2]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, no fleet, no docs")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--bench", default=os.path.join(ROOT, ".build", "release", "pssh-bench"))
    parser.add_argument("--floor-dir", help="where bench/run built the C floor programs")
    parser.add_argument("--only", help="comma-separated sections to run (floor, fanout, stream, copy, latency, hold, fleet); "
                                       "a partial run prints its figures but leaves docs/ alone")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the stream and copy workloads (median shown)")
    parser.add_argument("--far", action="store_true",
                        help="latency section: SFTP and SCP at 20 and 100 ms, written to docs/benchmarks-latency.md")
    parser.add_argument("--rewrite-docs", action="store_true",
                        help="rewrite docs/benchmarks.md and its chart from bench/last-run.json, running nothing")
    parser.add_argument("--baseline", help="another pssh-bench binary (an earlier commit's), run beside ours in the "
                                           "same rounds as base-libssh2 and base-libssh: a before/after comparison")
    parser.add_argument("--ours-only", action="store_true",
                        help="only our engines (and the baseline): no peers, no OpenSSH; leaves docs/ alone")
    parser.add_argument("--openssh", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.rewrite_docs:
        with open(os.path.join(ROOT, "bench", "last-run.json")) as f:
            return write_docs(json.load(f))
    sections = {"floor", "fanout", "stream", "copy", "latency", "hold", "fleet"}
    only = set(options.only.split(",")) if options.only else sections
    if only - sections:
        parser.error(f"unknown sections: {', '.join(sorted(only - sections))}")

    quick = options.quick
    fanout_ns = [20] if quick else [100, 500, 1000]
    fleet_ns = [] if quick or "fleet" not in only else [1000, 10000]
    hold_n = 100 if quick else 1000
    stream_bytes = 10_000_000 if quick else 100_000_000
    copy_bytes = 20_000_000 if quick else 200_000_000
    latency_bytes = 10_000_000 if quick else 50_000_000

    setup = Setup(options.python, fleet=bool(fleet_ns))
    results = []

    def ours(engine, workload, n=1, port=None, binary=None, **paths):
        command = [binary or options.bench, "--workload", workload, "--engine", engine, "--port", str(port or setup.port),
                   "--user", setup.user, "--key", setup.key, "--hosts", str(n), "--bytes", str(stream_bytes),
                   "--known-hosts", setup.known_hosts]
        for name, value in paths.items():
            command += [f"--{name}", value]
        return command

    def peer(script, workload, n=1, port=None, client="native", **paths):
        command = [options.python, os.path.join(PEERS, script), "--workload", workload, "--client", client,
                   "--port", str(port or setup.port), "--user", setup.user, "--key", setup.key, "--hosts", str(n),
                   "--bytes", str(stream_bytes)]
        for name, value in paths.items():
            command += [f"--{name}", value]
        return command

    def tools(workload, n, port=None, **paths):
        rows = [
            ("swift-libssh2", ours("libssh2", workload, n, port, **paths)),
            ("swift-libssh", ours("libssh", workload, n, port, **paths)),
        ]
        if options.baseline:
            rows += [(f"base-{engine}", ours(engine, workload, n, port, binary=options.baseline, **paths))
                     for engine in ("libssh2", "libssh")]
        if options.ours_only:
            return rows
        return rows + [
            ("pssh-libssh2", peer("pssh_peer.py", workload, n, port, "native", **paths)),
            ("pssh-libssh", peer("pssh_peer.py", workload, n, port, "ssh", **paths)),
            ("asyncssh", peer("asyncssh_peer.py", workload, n, port, **paths)),
        ]

    def openssh_rows(rows):
        """`rows` without OpenSSH's when only ours run."""
        return [row for row in rows if not (options.ours_only and row[0] == "openssh")]

    def record(label, workload, n, figures, server):
        figures.setdefault("tool", label)
        figures.update({"label": label, "workload": workload, "n": n, "server": server})
        results.append(figures)
        print(format_row(figures), flush=True)

    try:
        print(header(), flush=True)
        if "floor" in only:
            # Floors: minimal sequential C programs per library.
            for name in ("libssh2", "libssh"):
                binary = os.path.join(options.floor_dir, f"{name}_floor")
                n = 20 if quick else 200
                figures = run_measured([binary, "127.0.0.1", str(setup.port), setup.user, setup.key, str(n)], setup.sshd.pid)
                record(f"c-{name}", "floor", n, figures, "sshd")
        if "fanout" in only:
            for n in fanout_ns:
                for label, command in tools("fanout", n):
                    record(label, "fanout", n, run_measured(command, setup.sshd.pid), "sshd")
                if not options.ours_only:
                    record("openssh", "fanout", n, run_measured(openssh_command(options.python, setup, "fanout", n,
                                                                                setup.port), setup.sshd.pid), "sshd")
        if "stream" in only:
            commands = tools("stream", 1) + [("openssh", openssh_command(options.python, setup, "stream", 1, setup.port,
                                                                         stream_bytes=stream_bytes))]
            for label, figures in run_interleaved(openssh_rows(commands), setup.sshd.pid, options.repeat,
                                                   session_uid=setup.session_uid).items():
                record(label, "stream", 1, figures, "sshd")
        def copies(name, size, workloads, port, suffix=""):
            """Each copy workload for the tools that offer it, through `port`, in interleaved rounds; every run
            writes a new file, as the first round does."""
            source = random_file(os.path.join(setup.dir, name), size)
            drop = os.path.join(setup.dir, name + "-drop")
            os.makedirs(drop)
            os.chmod(drop, 0o777)

            def empty_drop():
                for entry in os.listdir(drop):
                    os.remove(os.path.join(drop, entry))
            for workload in workloads:
                upload = workload.startswith("upload")
                local, remote = (source, f"{drop}/{{}}-up") if upload else (f"{drop}/{{}}-down", source)
                commands = [(label, [part.replace("{}", label) for part in command])
                            for label, command in tools(workload, 1, port=port, local=local, remote=remote)
                            if label != "pssh-libssh"]  # its libssh client offers no file transfer
                commands.append(("openssh", openssh_command(options.python, setup, workload, 1, port,
                                                            local=local.replace("{}", "openssh"),
                                                            remote=remote.replace("{}", "openssh"))))
                for label, figures in run_interleaved(openssh_rows(commands), setup.sshd.pid, options.repeat, empty_drop,
                                                      session_uid=setup.session_uid).items():
                    record(label, workload + suffix, 1, figures, "sshd")

        if "copy" in only:
            # Copies: a file of random bytes, each direction and protocol.
            copies("source", copy_bytes, ("upload-sftp", "download-sftp", "upload-scp", "download-scp"), setup.port)
        if "latency" in only:
            # Copies through a proxy that adds half the round trip each way: 20 ms, and with --far also 100 ms
            # (SFTP and SCP); pipelining and SSH's windows decide how fast they go.
            for one_way in ([10, 50] if options.far else [10]):
                proxy_port = free_port()
                proxy = subprocess.Popen([options.python, os.path.join(ROOT, "bench", "delay_proxy.py"),
                                          str(proxy_port), str(setup.port), str(one_way)])
                try:
                    wait_listening(proxy_port)
                    workloads = (("upload-sftp", "download-sftp", "upload-scp", "download-scp") if options.far
                                 else ("upload-sftp", "download-sftp"))
                    copies(f"far-source-{one_way}", latency_bytes, workloads, proxy_port, suffix=f"@{2 * one_way}ms")
                finally:
                    proxy.terminate()
                    proxy.wait()
        if "hold" in only:
            for label, command in tools("hold", hold_n):
                record(label, "hold", hold_n, run_measured(command, setup.sshd.pid), "sshd")
        for n in fleet_ns:
            for label, command in tools("fanout", n, port=setup.fleet_port):
                record(label, "fleet", n, run_measured(command, setup.fleet.pid), "fleet")
            if n <= 1000:
                record("openssh", "fleet", n, run_measured(openssh_command(options.python, setup, "fanout", n,
                                                                           setup.fleet_port), setup.fleet.pid), "fleet")
    finally:
        setup.close()

    if options.far and only == {"latency"}:
        # Its own page (carried into docs/benchmarks.md), leaving the full run's figures alone.
        if not quick:
            write_latency_doc(results)
        return
    # A partial run keeps its figures apart, so `--rewrite-docs` still has the last full run's.
    full = only == sections and not quick and not options.ours_only and not options.baseline
    name = "last-run.json" if full else "last-partial-run.json"
    with open(os.path.join(ROOT, "bench", name), "w") as f:
        json.dump(results, f, indent=1)
    if full:
        write_docs(results)


def write_page(name, title, made_by, text):
    """Writes docs/<name>, a benchmark program's own page: its title, how it was made and its figures. A `## Notes`
    section written by hand below the figures (what a run showed beyond its table) is kept."""
    path = os.path.join(ROOT, "docs", name)
    notes = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if "\n## Notes\n" in old:
            notes = "\n" + old[old.index("\n## Notes\n") + 1:]
    with open(path, "w") as f:
        f.write(f"# {title}\n\n{made_by}\n\n{text}\n{notes}")


def write_latency_doc(results):
    """docs/benchmarks-latency.md: the copies at 20 and 100 ms, each tool's wall against the fastest peer's."""
    lines = ["# Copies at real latency", "",
             "Written by `bench/run --only latency --far` (one run, this machine: 2 cores, shared). A 50 MB file of "
             "random bytes copied through `bench/delay_proxy.py`, which delays each direction by half the round trip "
             "(the kernel here has no netem); three interleaved rounds, the median shown.", "", "```", header()]
    lines += [format_row(r) for r in results] + ["```", ""]
    for workload in sorted({r["workload"] for r in results}):
        rows = [r for r in results if r["workload"] == workload and "wall" in r]
        peers = [r for r in rows if not r["label"].startswith("swift")]
        if not peers:
            continue
        best = min(peers, key=lambda r: r["wall"])
        for r in rows:
            if r["label"].startswith("swift"):
                lines.append(f"- {r['label']}, {workload}: wall / fastest peer's ({best['label']}) = "
                             f"{r['wall'] / best['wall']:.2f} (target: at most 1.0)")
    with open(os.path.join(ROOT, "docs", "benchmarks-latency.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def header():
    return (f"{'workload':<20}{'n':>6}  {'tool':<14}{'wall s':>9}{'cpu s':>9}{'cpu/host ms':>13}{'cs/host':>9}"
            f"{'rss MB':>9}{'threads':>8}{'ok':>7}{'server cpu s':>14}")


def format_row(r):
    if "error" in r:
        return f"{r['workload']:<20}{r['n']:>6}  {r['label']:<14}  failed: {r['error']}"
    per_host = r["cpu"] / max(r["n"], 1) * 1000
    switches = f"{r['switches'] / max(r['n'], 1):>9.1f}" if "switches" in r else f"{'-':>9}"
    return (f"{r['workload']:<20}{r['n']:>6}  {r['label']:<14}{r['wall']:>9.2f}{r['cpu']:>9.2f}{per_host:>13.2f}"
            f"{switches}{r['maxrss_kb'] / 1024:>9.1f}{r['threads']:>8}{r['ok']:>7}{r['server_cpu']:>14.1f}")


def write_docs(results):
    import subprocess as sp
    lines = ["# Benchmarks", "",
             "Measured side by side in one run by `bench/run` (see `bench/run.py`): our library on both engines, Python",
             "parallel-ssh's libssh2 and libssh clients and asyncssh (from PyPI), OpenSSH's `ssh`/`scp` processes, and",
             "a minimal sequential C program per library (the floor). The server is a loopback OpenSSH sshd (or, for",
             "`fleet`, the simulated fleet `bench/fleet.py`); its CPU over each run is in the last column.", "",
             f"Machine: {platform.platform()}, {os.cpu_count()} cores, "
             f"{sp.run(['ssh', '-V'], capture_output=True, text=True).stderr.strip()}. Reproduce: `bench/run`.", "",
             "Workloads: `floor` (C, sequential connect + auth + `uname` + close); `fanout` (connect, authenticate,",
             "run `uname`, read output and exit code on N entries of one host); `stream` (100 MB of 100-byte lines, read",
             "line by line); `upload-*`/`download-*` (a 200 MB file; `@20ms`: 50 MB over a 20 ms round trip); `hold` (N sessions connected at once, idle 2 s);",
             "`fleet` (fanout against the simulated fleet). CPU is the client's user + system time; for OpenSSH it is",
             "all its processes together and RSS the largest single process; cs/host is the client's context switches",
             "(voluntary and involuntary, all its processes, `getrusage`) per host. `stream` and the copies ran in three rounds",
             "of every tool in turn; the run with each tool's median wall time is shown.", "", "```", header()]
    lines += [format_row(r) for r in results] + ["```", "", "![client CPU per host and wall time](benchmarks.png)", ""]
    lines += ratios(results) + NOTES.splitlines()
    # The other benchmark programs write their own pages; their figures are carried here too, one level down.
    for name, source in (("Jump hosts", "benchmarks-jump.md"), ("The fleetsh tool", "benchmarks-tool.md"),
                         ("Scale: keys and connection storms", "benchmarks-scale.md"),
                         ("Copies at 20 and 100 ms", "benchmarks-latency.md"),
                         ("100,000 hosts", "benchmarks-hundred.md")):
        path = os.path.join(ROOT, "docs", source)
        if os.path.exists(path):
            with open(path) as f:
                body = [line for line in f.read().splitlines() if not line.startswith("# ")]
            lines += ["", f"## {name} (from `docs/{source}`)", ""] + [
                ("#" + line if line.startswith("## ") else line) for line in body]
    with open(os.path.join(ROOT, "docs", "benchmarks.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    chart(results)


NOTES = """## Notes on reading these figures

- `fanout` against sshd is bound by the server (see its CPU): wall-time ratios near 1 there are within this
  shared machine's noise. The simulated fleet (`fleet`) is where the client's own cost shows.
- Server CPU counts what the sshd listener reaps (handshakes and authentication). For `stream` and the copies it
  adds the session processes of the non-root login, sampled every 20 ms, which the listener never reaps; for the
  other workloads those (short) processes are left out.
- The libssh2 engine's copies are bounded by libssh2 1.10's crypto: it has no AES-GCM or ChaCha20 and encrypts
  and decrypts 16 bytes per OpenSSL call (AES-CTR, then HMAC-SHA2); `perf` puts half of its transfer CPU in
  libcrypto and under 2% in this package's code. The libssh engine runs the same SFTP/SCP code faster than `scp`.
- RSS is each process's peak resident memory (`ru_maxrss`). On Linux that figure starts from the peak of the
  process that started it (the Python driver here, about 13 MB), so no figure can read lower; the driver keeps its
  own memory small. OpenSSH's 14 MB is its own: `/usr/bin/time` measures the same for `scp` started from a shell.
- `*@20ms`: SFTP copies of a 50 MB file through `bench/delay_proxy.py`, which delays each direction by 10 ms (this
  kernel has no netem). With one request at a time, 64 KiB per round trip would take 16 s; pipelining keeps every
  tool near 1 s. What remains is bounded by the bytes in flight. OpenSSH keeps 2 MiB. Our downloads take a
  receive window from a process budget (`ReceiveWindowBudget`: 2 to 16 MiB each, 256 MiB shared) and grow their
  SFTP pipeline up to it; on libssh 0.10, whose channels open at 1.28 MB, the engine keeps the larger window by
  asking its reads for more than is buffered. parallel-ssh's SCP reads ask libssh2 for the rest of the file, so its
  window grows to the file's size (50 MB here), unbounded.
- Threads: ours are the main thread, one event loop per core and the Swift runtime's own executor threads; a
  4-thread blocking pool starts only for file I/O and name resolution.
"""


def ratios(results):
    """Our figures against the best peer of the same workload and size."""
    out = ["## Ratios against the best peer (same run; below 1 is better than the peer)", ""]
    groups = {}
    for r in results:
        if "error" not in r and r["workload"] != "floor":
            groups.setdefault((r["workload"], r["n"]), []).append(r)
    floors = {r["label"]: r["cpu"] / r["n"] for r in results if r["workload"] == "floor" and "error" not in r}
    out.append("| workload | n | ours | wall vs fastest peer | wall vs OpenSSH | cpu vs leanest peer | cpu/host vs C floor |")
    out.append("|---|---|---|---|---|---|---|")
    for (workload, n), rows in groups.items():
        peers = [r for r in rows if not r["label"].startswith("swift")]
        if not peers:
            continue
        fastest = min(r["wall"] for r in peers)
        leanest = min(r["cpu"] for r in peers) or 1e-9
        openssh = next((r["wall"] for r in peers if r["label"] == "openssh"), None)
        for r in rows:
            if r["label"].startswith("swift"):
                floor = floors.get("c-" + r["label"].split("-", 1)[1])
                versus_floor = f"{r['cpu'] / n / floor:.2f}" if floor and workload in ("fanout", "fleet") else ""
                versus_openssh = f"{r['wall'] / openssh:.2f}" if openssh else ""
                out.append(f"| {workload} | {n} | {r['label']} | {r['wall'] / fastest:.2f} | {versus_openssh} "
                           f"| {r['cpu'] / leanest:.2f} | {versus_floor} |")
    return out + [""]


def chart(results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(2, 2, figsize=(12, 9))
    for column, workload in enumerate(("fanout", "fleet")):
        rows = [r for r in results if r["workload"] == workload and "error" not in r]
        for label in sorted({r["label"] for r in rows}):
            points = sorted((r["n"], r["cpu"] / r["n"] * 1000, r["wall"]) for r in rows if r["label"] == label)
            axes[0][column].plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
            axes[1][column].plot([p[0] for p in points], [p[2] for p in points], marker="o", label=label)
        axes[0][column].set_title(f"{workload}: client CPU per host (ms)")
        axes[1][column].set_title(f"{workload}: wall time (s)")
        for row in (0, 1):
            axes[row][column].set_xlabel("hosts (N)")
            axes[row][column].set_xscale("log")
            axes[row][column].set_yscale("log")
            axes[row][column].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(os.path.join(ROOT, "docs", "benchmarks.png"), dpi=90)


if __name__ == "__main__":
    main()
