#!/usr/bin/env python3
"""The simulated fleet: one asyncssh server process standing in for many hosts, so that the client's own cost
shows at thousands of connections (an OpenSSH sshd spends 100-200 ms of CPU on each connection here; this spends
about 2 ms).

    bench/fleet.py [--address 127.0.0.1] PORT HOST_KEY AUTHORIZED_KEYS

It accepts the public keys in AUTHORIZED_KEYS for any user and runs no shell. Commands it knows:
`uname` (prints `Linux`), `echo WORDS`, `sleep SECONDS`, `exit STATUS`; any other command is printed back and
exits 0. Needs asyncssh (bench/setup installs it in the bench venv).
"""
import argparse
import asyncio

import asyncssh


def answer(command):
    """What the fleet does for `command`: (seconds to wait, text to print, exit status)."""
    words = command.split(maxsplit=1)
    name, rest = (words[0], words[1] if len(words) > 1 else "") if words else ("", "")
    if name == "sleep":
        return float(rest or 0), "", 0
    if name == "exit":
        return 0, "", int(rest or 0)
    if name == "uname":
        return 0, "Linux\n", 0
    if name == "echo":
        return 0, rest + "\n", 0
    return 0, command + "\n", 0


async def session(process):
    delay, text, status = answer((process.command or "").strip())
    if delay:
        await asyncio.sleep(delay)
    if text:
        process.stdout.write(text)
    process.exit(status)


async def serve(address, port, host_key, authorized_keys):
    await asyncssh.create_server(asyncssh.SSHServer, address, port, server_host_keys=[host_key],
                                 authorized_client_keys=authorized_keys, process_factory=session, backlog=4096)
    await asyncio.Event().wait()


def main():
    parser = argparse.ArgumentParser(description="A simulated SSH fleet for scale benchmarks.")
    parser.add_argument("--address", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("port", type=int)
    parser.add_argument("host_key")
    parser.add_argument("authorized_keys")
    options = parser.parse_args()
    asyncio.run(serve(options.address, options.port, options.host_key, options.authorized_keys))


if __name__ == "__main__":
    main()
