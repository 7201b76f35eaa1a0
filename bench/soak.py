#!/usr/bin/env python3
"""Soak and leak check, not a test: on each engine, 10,000 commands one after another on one session,
then 2,000 connect/command/disconnect cycles, against a throwaway loopback sshd, with the client's resident memory
and open file descriptors sampled after a warm-up, half-way and at the end of each phase. Then a short run of each
engine built with AddressSanitizer, whose LeakSanitizer reports the leaks (and any memory error) at exit.

    bench/soak               # the full run; writes docs/soak.md
    bench/soak --quick       # 1,000 commands and 200 cycles, prints only
"""
import argparse, json, os, re, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Setup, markdown_table, ROOT  # noqa: E402

BENCH = os.path.join(ROOT, ".build", "release", "pssh-bench")
ASAN_BENCH = os.path.join(ROOT, ".build-asan", "release", "pssh-bench")
SYMBOLIZER = "/opt/swift/usr/bin/llvm-symbolizer"
# Our modules as they appear in valgrind's stacks (Swift mangling keeps module names as written).
OURS = re.compile(r"SSHEngineCore|SSHEventLoop|BackendLibSSH2?|SSHFileTransfer|SSHBackend|ParallelFrontend|CEventLoopShims")


def soak(setup, engine, commands, cycles):
    command = [BENCH, "--workload", "soak", "--engine", engine, "--host", "127.0.0.1", "--port", str(setup.port),
               "--user", setup.user, "--key", setup.key, "--known-hosts", setup.known_hosts,
               "--commands", str(commands), "--cycles", str(cycles)]
    p = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise SystemExit(f"{engine}: {p.stderr.strip()}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def leakcheck(setup, engine, commands=200, cycles=100, plant=False):
    """A short soak built with AddressSanitizer, whose LeakSanitizer reports at exit: (leaked bytes, allocations;
    the same for stacks through our code; memory errors found). valgrind 3.19 (Debian 12) cannot run Swift 6.3
    binaries: it cannot read their DWARF 5 and crashes in libdispatch's signal thread."""
    log = f"{setup.dir}/lsan-{engine}"
    env = dict(os.environ, ASAN_OPTIONS=f"detect_leaks=1:log_path={log}",
               ASAN_SYMBOLIZER_PATH=SYMBOLIZER, SWIFT_BACKTRACE="enable=no")
    command = [ASAN_BENCH, "--workload", "soak", "--engine", engine, "--host", "127.0.0.1", "--port", str(setup.port),
               "--user", setup.user, "--key", setup.key, "--known-hosts", setup.known_hosts,
               "--commands", str(commands), "--cycles", str(cycles), "--plant-leak", "1" if plant else "0"]
    for name in os.listdir(setup.dir):
        if name.startswith(os.path.basename(log)):
            os.remove(os.path.join(setup.dir, name))
    p = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=env)
    if p.returncode != 0 and not any(name.startswith(os.path.basename(log)) for name in os.listdir(setup.dir)):
        raise SystemExit(f"{engine} under AddressSanitizer: {p.stderr.strip()[-500:]}")
    text = "".join(open(os.path.join(setup.dir, name)).read() for name in os.listdir(setup.dir)
                   if name.startswith(os.path.basename(log)))
    total = re.search(r"SUMMARY: AddressSanitizer: (\d+) byte\(s\) leaked in (\d+) allocation", text)
    leaked = tuple(int(x) for x in total.groups()) if total else (0, 0)
    ours_bytes = ours_count = 0
    for match in re.finditer(r"(?:Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\).*?(?=\n\n)", text, re.S):
        if OURS.search(match.group(0)):
            ours_bytes += int(match.group(1))
            ours_count += int(match.group(2))
    errors = len(re.findall(r"ERROR: AddressSanitizer: (?!.*leak)", text))
    return leaked, (ours_bytes, ours_count), errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--python", default=sys.executable)
    options = parser.parse_args()
    commands, cycles = (1000, 200) if options.quick else (10_000, 2_000)
    setup = Setup(options.python, fleet=False)
    rows, checks, leaks = [], [], []
    try:
        # Positive control: a run that leaks 64 x 77 bytes on purpose must be caught, or the check proves nothing.
        planted, _, _ = leakcheck(setup, "libssh2", commands=2, cycles=2, plant=True)
        if planted[0] < 77:
            raise SystemExit("LeakSanitizer did not report the planted 77-byte leak: the leak check cannot be trusted")
        for engine in ("libssh2", "libssh"):
            result = soak(setup, engine, commands, cycles)
            s = result["samples"]
            for phase, (a, b, c) in (("commands on one session", s[0:3]), ("connect/command/disconnect", s[3:6])):
                rows.append([engine, phase, f"{c['done']:,}", f"{a['rss_kb'] / 1024:.1f} / {b['rss_kb'] / 1024:.1f} / "
                             f"{c['rss_kb'] / 1024:.1f}", f"{a['fds']} / {b['fds']} / {c['fds']}"])
                # Back to baseline: no descriptor more, and memory not growing from the middle to the end.
                grew = c["rss_kb"] - b["rss_kb"]
                checks.append((engine, phase, c["fds"] == a["fds"], grew <= 1024, grew))
            leaked, ours, errors = leakcheck(setup, engine)
            leaks.append([engine, f"{leaked[0]:,} B in {leaked[1]:,} allocations",
                          f"{ours[0]:,} B in {ours[1]:,} allocations", str(errors)])
    finally:
        setup.close()
    lines = markdown_table(["Engine", "Phase", "Iterations", "RSS MB: start / middle / end", "Open fds: start / middle / end"], rows)
    lines += ["", "Back to baseline (same descriptors as at the start; resident memory grew by at most 1 MB from the "
              "middle to the end):", ""]
    lines += [f"- {e}, {p}: descriptors {'back' if fd else 'NOT back'}, memory {'flat' if mem else 'GROWING'} "
              f"({grew:+} kB from the middle to the end)" for e, p, fd, mem, grew in checks]
    lines += ["", "LeakSanitizer (an AddressSanitizer build), 200 commands and 100 cycles per engine (it reported "
              f"{planted[0]} bytes for a run that leaks 64 x 77 on purpose):", ""]
    lines += markdown_table(["Engine", "Leaked at exit (whole process)", "Of which through this package",
                             "Memory errors"], leaks)
    print("\n".join(lines))
    if not options.quick:
        with open(os.path.join(ROOT, "docs", "soak.md"), "w") as f:
            f.write("# Soak and leak check\n\nMade by `bench/soak` (see bench/soak.py); one run on this machine.\n\n"
                    + "\n".join(lines) + "\n")
    ok = all(fd and mem for _, _, fd, mem, _ in checks) and all(row[2].startswith("0 B") and row[3] == "0" for row in leaks)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
