#!/usr/bin/env python3
"""Key, memory and fan-out measurements beside the peers, in one run: a passphrase-protected key (client CPU per host against
the same key unencrypted), and a connection storm against one sshd with OpenSSH's default MaxStartups (10:30:100).

    bench/scale            # keys at N = 100 and 1,000, storm at N = 500 and 2,000; writes docs/benchmarks-scale.md
    bench/scale --quick    # keys at N = 50, storm at N = 200; prints only

Tools: our pssh-bench (both engines), parallel-ssh's native (libssh2) client and asyncssh (the key read once with
`read_private_key` and shared, its best case). parallel-ssh runs with num_retries=0 as in bench/run.
"""
import argparse, json, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Setup, markdown_table, free_port, wait_listening, run_json as run, write_page, ROOT  # noqa: E402

PEERS = os.path.join(ROOT, "bench", "peers")
BENCH = os.path.join(ROOT, ".build", "release", "pssh-bench")


def commands(options, setup, n, port, key, passphrase):
    ours = [BENCH, "--workload", "fanout", "--hosts", str(n), "--host", "127.0.0.1", "--port", str(port),
            "--user", setup.user, "--key", key, "--known-hosts", setup.known_hosts]
    if passphrase:
        ours += ["--passphrase", passphrase]
    peer = ["--workload", "fanout", "--port", str(port), "--user", setup.user, "--key", key, "--hosts", str(n)]
    if passphrase:
        peer += ["--passphrase", passphrase]
    return [
        ("swift-libssh2", ours + ["--engine", "libssh2"]),
        ("swift-libssh", ours + ["--engine", "libssh"]),
        ("pssh-libssh2", [options.python, os.path.join(PEERS, "pssh_peer.py")] + peer),
        ("asyncssh", [options.python, os.path.join(PEERS, "asyncssh_peer.py")] + peer),
    ]


# Tools that derive the key again for every host (parallel-ssh: ssh2-python hands libssh2 the key file): at N = 1,000 with a passphrase that is minutes of CPU, so they
# run the encrypted key at the smaller N only.
PER_HOST_KDF = {"pssh-libssh2"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--python", default=sys.executable)
    options = parser.parse_args()
    key_ns, storm_ns = ([50], [200]) if options.quick else ([100, 1000], [500, 2000])
    setup = Setup(options.python, fleet=False)
    storm = None
    lines = []
    try:
        encrypted = f"{setup.dir}/encrypted"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "bench passphrase", "-f", encrypted], check=True)
        with open(f"{setup.dir}/authorized_keys", "a") as f:
            f.write(open(encrypted + ".pub").read())
        # Keys: CPU per host, plain and encrypted.
        rows = []
        for n in key_ns:
            for (tool, plain_cmd), (_, enc_cmd) in zip(commands(options, setup, n, setup.port, setup.key, None),
                                                      commands(options, setup, n, setup.port, encrypted, "bench passphrase")):
                plain = run(plain_cmd)
                if tool in PER_HOST_KDF and n > min(key_ns):
                    rows.append([tool, f"{n:,}", cell(plain, n), "not run (derives the key per host)", ""])
                    continue
                enc = run(enc_cmd)
                ratio = (f"{enc['cpu'] / plain['cpu']:.2f}" if "cpu" in enc and "cpu" in plain and plain["cpu"] > 0 else "")
                rows.append([tool, f"{n:,}", cell(plain, n), cell(enc, n), ratio])
                print(rows[-1], file=sys.stderr)
        lines += ["## A passphrase-protected key", "",
                  "Client CPU per host and wall, `uname` on N entries of the loopback sshd, ed25519 key without and "
                  "with a passphrase (OpenSSH's bcrypt KDF, 16 rounds). Target: encrypted within 1.2x of plain. "
                  "Decrypting the key once costs about 0.11 s of CPU (`ssh-keygen -y` and pyca's `bcrypt.kdf` take "
                  "that here): spread over 100 hosts that alone is 1.1 ms per host, half a plain connection, so at "
                  "N = 100 no tool that decrypts the key can reach 1.2.", ""]
        lines += markdown_table(["Tool", "N", "Plain key: CPU/host, wall, ok", "Encrypted key: CPU/host, wall, ok",
                                 "Encrypted / plain CPU"], rows)
        lines += [""] + [f"- {row[0]}, N = {row[1]}: encrypted / plain = {row[4]} (target: at most 1.2): "
                         + ("met" if float(row[4]) <= 1.2 else "missed") for row in rows
                         if row[0].startswith("swift") and row[4]]
        # Storm: one sshd with the default MaxStartups.
        port = free_port()
        config = setup.sshd_config("storm", "127.0.0.1", port, ["PrintMotd no", "PrintLastLog no", "LogLevel ERROR",
                                                                 "MaxStartups 10:30:100"])  # sshd keeps the last value
        storm = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", config], stderr=subprocess.DEVNULL)
        wait_listening(port)
        rows = []
        for n in storm_ns:
            for tool, command in commands(options, setup, n, port, setup.key, None):
                result = run(command)
                rows.append([tool, f"{n:,}", str(result.get("ok", 0)), str(result.get("failed", n)),
                             f"{result['wall']:.2f} s" if "wall" in result else result.get("error", "")])
                print(rows[-1], file=sys.stderr)
        lines += ["", "## A connection storm", "",
                  "`uname` on N entries of one sshd with OpenSSH's default `MaxStartups 10:30:100` (past 10 "
                  "unauthenticated connections it drops 30% of new ones, rising to all of them at 100), every host "
                  "started at once as each tool does it.", ""]
        lines += markdown_table(["Tool", "N", "Succeeded", "Failed", "Wall"], rows)
    finally:
        if storm:
            storm.terminate()
            storm.wait()
        setup.close()
    text = "\n".join(lines)
    print(text)
    if not options.quick:
        write_page("benchmarks-scale.md", "Scale: keys and connection storms",
                   "Made by `bench/scale` (bench/scale.py); one run on this 2-core machine, every tool in the same run.",
                   text)


def cell(result, n):
    if "cpu" not in result:
        return result.get("error", "failed")
    return f"{1000 * result['cpu'] / n:.2f} ms, {result['wall']:.2f} s, {result['ok']}/{n}"


if __name__ == "__main__":
    main()
