"""asyncssh running one benchmark workload (every host at once on one event loop)."""
import asyncio, time
import asyncssh
from common import arguments, jump_parts, raise_open_files, cpu, threads, report, STREAM_COMMAND

args = arguments()
raise_open_files()


TUNNEL = None  # with --jump: one connection to the jump host, shared by every target (asyncssh's tunnel=)


# With a passphrase the key is read (and decrypted) once and shared, as an experienced asyncssh user would; that
# read counts in the CPU figure, as the other tools' decryption does in theirs.
CPU_BEFORE_KEY = cpu()
KEY = asyncssh.read_private_key(args.key, args.passphrase) if args.passphrase else args.key


def connect(host=None, port=None, **extra):
    return asyncssh.connect(host or args.host, port or args.port, username=args.user, client_keys=[KEY],
                            known_hosts=None, agent_path=None, config=None, **extra)


def connect_target():
    return connect(tunnel=TUNNEL) if TUNNEL else connect()


async def one_uname():
    async with connect_target() as conn:
        result = await conn.run("uname")
        return result.exit_status == 0 and result.stdout.strip() != ""


async def main():
    global TUNNEL
    started_jump, cpu_jump = time.monotonic(), CPU_BEFORE_KEY  # the key read and the jump connection count too
    if args.jump:
        user, host, port = jump_parts(args.jump)
        TUNNEL = await asyncssh.connect(host, port, username=user, client_keys=[args.key], known_hosts=None,
                                        agent_path=None, config=None)
    n = args.hosts if args.workload in ("fanout", "hold") else 1
    started, before, ok, thread_count = started_jump, cpu_jump, 0, None
    if args.workload == "fanout":
        results = await asyncio.gather(*(one_uname() for _ in range(n)), return_exceptions=True)
        ok = sum(1 for r in results if r is True)
    elif args.workload == "stream":
        async with connect_target() as conn:
            async with conn.create_process(STREAM_COMMAND.format(args.bytes)) as process:
                lines = 0
                async for _ in process.stdout:
                    lines += 1
        ok = 1 if lines == (args.bytes + 98) // 99 else 0
    elif args.workload == "hold":
        conns = await asyncio.gather(*(connect_target() for _ in range(n)), return_exceptions=True)
        ok = sum(1 for c in conns if not isinstance(c, BaseException))
        await asyncio.sleep(2)
        thread_count = threads()
        for c in conns:
            if not isinstance(c, BaseException):
                c.close()
    else:
        async with connect_target() as conn:
            if args.workload == "upload-sftp":
                async with conn.start_sftp_client() as sftp:
                    await sftp.put(args.local, args.remote)
            elif args.workload == "download-sftp":
                async with conn.start_sftp_client() as sftp:
                    await sftp.get(args.remote, args.local)
            elif args.workload == "upload-scp":
                await asyncssh.scp(args.local, (conn, args.remote))
            elif args.workload == "download-scp":
                await asyncssh.scp((conn, args.remote), args.local)
        ok = 1
    report("asyncssh", args, n, started, before, ok, thread_count)

asyncio.run(main())
