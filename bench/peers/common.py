"""Shared helpers for the peer benchmark programs: arguments and the JSON line every program prints."""
import argparse, json, os, resource, time


def arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", required=True)
    parser.add_argument("--client", default="native")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--bytes", type=int, default=100_000_000)
    parser.add_argument("--local", default="")
    parser.add_argument("--remote", default="")
    parser.add_argument("--jump", help="user@host:port of a jump host to reach every host through")
    parser.add_argument("--passphrase", help="the key's passphrase")
    return parser.parse_args()


def jump_parts(jump):
    """(user, host, port) of a `user@host:port` jump host."""
    user, rest = jump.split("@", 1)
    host, port = rest.rsplit(":", 1)
    return user, host, int(port)


def raise_open_files():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def threads():
    return len(os.listdir("/proc/self/task"))


def report(tool, args, n, started, cpu_before, ok, thread_count=None):
    print(json.dumps({
        "tool": tool, "workload": args.workload, "n": n, "wall": time.monotonic() - started,
        "cpu": cpu() - cpu_before, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "threads": thread_count if thread_count is not None else threads(), "ok": ok, "failed": n - ok}), flush=True)


# 99 characters and a newline per line: ceil(bytes / 99) lines.
STREAM_COMMAND = "head -c {0} /dev/zero | tr '\\0' 'x' | fold -w 99"
