"""Python parallel-ssh (its libssh2 'native' client or its libssh 'ssh' client) running one benchmark workload."""
import time
from gevent import joinall, sleep
from common import arguments, jump_parts, raise_open_files, cpu, threads, report, STREAM_COMMAND

args = arguments()
raise_open_files()
if args.client == "ssh":
    from pssh.clients.ssh import ParallelSSHClient
else:
    from pssh.clients.native import ParallelSSHClient

n = args.hosts if args.workload in ("fanout", "hold") else 1
proxy = {}
if args.jump:  # its proxy_* arguments (the native client only)
    user, host, port = jump_parts(args.jump)
    proxy = dict(proxy_host=host, proxy_port=port, proxy_user=user, proxy_pkey=args.key)
# parallel-ssh takes an encrypted key's passphrase as `password`.
secret = dict(password=args.passphrase) if args.passphrase else {}
client = ParallelSSHClient([args.host] * n, port=args.port, user=args.user, pkey=args.key, num_retries=0, **secret,
                           timeout=120, pool_size=max(n, 1), allow_agent=False, identity_auth=False, **proxy)
tool = "pssh-" + ("libssh" if args.client == "ssh" else "libssh2")
started, before, ok, thread_count = time.monotonic(), cpu(), 0, None
if args.workload == "fanout":
    output = client.run_command("uname", stop_on_errors=False)
    client.join(output, consume_output=True)
    ok = sum(1 for host in output if host.exit_code == 0)
elif args.workload == "stream":
    output = client.run_command(STREAM_COMMAND.format(args.bytes))
    lines = sum(1 for _ in output[0].stdout)
    client.join(output)
    ok = 1 if lines == (args.bytes + 98) // 99 else 0
elif args.workload == "hold":
    joinall(client.connect_auth(), raise_error=False)
    ok = sum(1 for c in client._host_clients.values() if c is not None and c.session is not None)
    sleep(2)
    thread_count = threads()
elif args.workload == "upload-sftp":
    joinall(client.copy_file(args.local, args.remote), raise_error=True)
    ok = 1
elif args.workload == "download-sftp":
    joinall(client.copy_remote_file(args.remote, args.local), raise_error=True)
    ok = 1
elif args.workload == "upload-scp":
    joinall(client.scp_send(args.local, args.remote), raise_error=True)
    ok = 1
elif args.workload == "download-scp":
    joinall(client.scp_recv(args.remote, args.local), raise_error=True)
    ok = 1
report(tool, args, n, started, before, ok, thread_count)
