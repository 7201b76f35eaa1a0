#!/usr/bin/env python3
"""Minimal SSH server built on asyncssh, used as an interoperability target.

The Swift test-suite starts this script as an independent SSH server
implementation and runs its client against it:

    asyncssh_server.py --host 127.0.0.1 --port N \
        --host-key HOST_KEY --authorized-keys AUTHORIZED_KEYS

Once listening it prints exactly one line, ``listening on HOST:PORT`` (the
real port, so ``--port 0`` works), and it exits cleanly on SIGTERM/SIGINT.

Behaviour, modelled on OpenSSH's sshd:

* Public-key authentication only; any user name is accepted if the key is in
  the authorized_keys file.
* exec/shell requests run ``/bin/sh -c COMMAND`` (or ``/bin/sh``) as the
  server's own user, in the server's working directory, with the client's
  ``env`` requests applied.  stdout and stderr stay separate (stderr is sent
  as extended data), stdin is passed through and client EOF closes the
  child's stdin.  The exit code is sent as exit-status; death by a signal is
  sent as exit-signal ("TERM", ...).  SSH ``signal`` requests are forwarded
  to the child's process group.
* With a pty request, the command runs on a real pseudo-terminal (session
  leader, pty as controlling terminal, TERM and window size as requested;
  window-change requests are applied).  As with sshd, client EOF is not
  forwarded to a pty.
* SFTP (asyncssh's server on the real file system, no chroot) and SCP
  (legacy protocol, ``scp -O``; modern scp uses SFTP).

Requires the ``asyncssh`` package from PyPI.
"""

import argparse
import asyncio
import errno
import fcntl
import logging
import os
import signal
import struct
import sys
import termios

import asyncssh

CHUNK = 65536
log = logging.getLogger('asyncssh_server')


# --- non-blocking file descriptor helpers -----------------------------------

async def _wait_fd(add, remove, fd):
    """Wait until fd is readable/writable (add/remove: loop.add_reader etc.)."""
    ready = asyncio.get_running_loop().create_future()
    add(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        remove(fd)


async def read_fd(fd):
    """Read up to CHUNK bytes; b'' at EOF (EIO from a pty master is EOF)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return os.read(fd, CHUNK)
        except BlockingIOError:
            await _wait_fd(loop.add_reader, loop.remove_reader, fd)
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b''
            raise


async def write_fd(fd, data):
    """Write all of data, waiting while the pipe/pty is full."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            await _wait_fd(loop.add_writer, loop.remove_writer, fd)


def set_winsize(fd, cols, rows, xpixels=0, ypixels=0):
    size = [min(v, 0xffff) for v in (rows, cols, xpixels, ypixels)]
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', *size))


def _make_controlling_tty():
    """preexec_fn for pty children (after setsid): stdin becomes the ctty."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


# --- session handling --------------------------------------------------------

async def copy_output(fd, stream):
    """Child output -> SSH channel, with flow control."""
    while data := await read_fd(fd):
        stream.write(data)
        await stream.drain()
        await asyncio.sleep(0)           # let other sessions run, too


async def feed_input(process, fd, pid, is_pty, close_fd):
    """SSH channel -> child stdin; also handles signal/window-change requests.

    Never returns: after the client's EOF it raises ConnectionResetError once
    the client closes the channel or disconnects (the caller cancels it when
    the session ends normally).
    """
    writable = True
    while True:
        try:
            data = await process.stdin.read(CHUNK)
        except asyncssh.TerminalSizeChanged as exc:
            if is_pty:
                set_winsize(fd, exc.width, exc.height,
                            exc.pixwidth, exc.pixheight)
            continue
        except asyncssh.SignalReceived as exc:
            signum = getattr(signal, 'SIG' + exc.signal, None)
            if signum is not None:
                try:
                    os.killpg(pid, signum)
                except ProcessLookupError:
                    pass
            continue
        except asyncssh.BreakReceived:
            continue
        if not data:                     # client sent EOF
            break
        if writable:
            try:
                await write_fd(fd, data)
            except OSError:              # child closed its stdin: discard
                writable = False
    if not is_pty:                       # (EOF is not forwarded to a pty)
        close_fd(fd)
    await process.channel.wait_closed()
    raise ConnectionResetError('channel closed by client')


async def flush_channel(process):
    """Wait until everything written to the channel has actually been sent,
    so that exit-status/exit-signal cannot overtake buffered output."""
    process.channel.set_write_buffer_limits(0, 0)
    await process.stdout.drain()


async def run_session(process):
    term = process.get_terminal_type()
    env = dict(os.environb)
    env.update((key, value) for key, value
               in process.channel.get_environment_bytes().items()
               if key and b'=' not in key)
    if process.command is None:
        argv = ['/bin/sh']
    else:
        argv = ['/bin/sh', '-c', process.command]

    if term:
        env[b'TERM'] = term.encode()
        master, slave = os.openpty()
        child_fds = {0: slave, 1: slave, 2: slave}
        in_fd, out_fd, err_fd = master, master, None
        open_fds = {master}
    else:
        (child_in, in_fd), (out_fd, child_out), (err_fd, child_err) = \
            os.pipe(), os.pipe(), os.pipe()
        child_fds = {0: child_in, 1: child_out, 2: child_err}
        open_fds = {in_fd, out_fd, err_fd}

    def close_fd(fd):
        if fd in open_fds:
            open_fds.discard(fd)
            os.close(fd)

    try:
        try:
            if term:
                cols, rows, xpix, ypix = process.get_terminal_size()
                if cols and rows:
                    set_winsize(slave, cols, rows, xpix, ypix)
            child = await asyncio.create_subprocess_exec(
                *argv, stdin=child_fds[0], stdout=child_fds[1],
                stderr=child_fds[2], env=env, start_new_session=True,
                preexec_fn=_make_controlling_tty if term else None)
        finally:
            for fd in set(child_fds.values()):
                os.close(fd)
        for fd in open_fds:
            os.set_blocking(fd, False)
        await relay(process, child, in_fd, out_fd, err_fd, bool(term),
                    close_fd)
    finally:
        for fd in list(open_fds):
            close_fd(fd)

    if child.returncode >= 0:
        process.exit(child.returncode)
    else:                                # killed by a signal: "TERM" etc.
        try:
            name = signal.Signals(-child.returncode).name.removeprefix('SIG')
        except ValueError:               # unnamed real-time signal
            name = f'RTMIN+{-child.returncode - signal.SIGRTMIN}'
        process.exit_with_signal(name)


async def relay(process, child, in_fd, out_fd, err_fd, is_pty, close_fd):
    """Pass data between channel and child until the child has exited and
    all of its output has been sent; hang up on the child on failure."""
    outputs = [copy_output(out_fd, process.stdout)]
    if err_fd is not None:
        outputs.append(copy_output(err_fd, process.stderr))
    main = asyncio.gather(child.wait(), *outputs)
    feeder = asyncio.ensure_future(
        feed_input(process, in_fd, child.pid, is_pty, close_fd))
    try:
        await asyncio.wait([main, feeder],
                           return_when=asyncio.FIRST_COMPLETED)
        if feeder.done():
            feeder.result()              # raises: the client went away
        await main
        await flush_channel(process)
    finally:
        main.cancel()
        feeder.cancel()
        await asyncio.gather(main, feeder, return_exceptions=True)
        if child.returncode is None:     # session aborted: hang up
            try:
                os.killpg(child.pid, signal.SIGHUP)
            except ProcessLookupError:
                pass


async def handle_process(process):
    """asyncssh process_factory: never lets an exception escape."""
    try:
        if process.subsystem is not None:
            process.stderr.write(
                f'unsupported subsystem {process.subsystem}\n'.encode())
            process.exit(1)
        else:
            await run_session(process)
    except ConnectionError as exc:       # client went away mid-session
        log.info('session aborted: %r', exc)
    except Exception:
        log.exception('session failed')
        try:
            process.exit(255)
        except Exception:
            pass


class SFTPServer(asyncssh.SFTPServer):
    """SFTP on the real file system (no chroot).  Like sshd's sftp-server it
    ends with exit-status 0, which OpenSSH's SFTP-based scp insists on."""

    def exit(self):
        try:
            self.channel.exit(0)     # no-op if the channel is already closing
        except Exception:
            pass


# --- main ----------------------------------------------------------------

async def serve(args):
    server = await asyncssh.listen(
        args.host, args.port,
        server_host_keys=[args.host_key],
        authorized_client_keys=args.authorized_keys,
        password_auth=False, kbdint_auth=False, gss_host=None,
        config=None,
        process_factory=handle_process,
        sftp_factory=SFTPServer, allow_scp=True,
        encoding=None, line_editor=False)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    print(f'listening on {args.host}:{server.get_port()}', flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--host-key', required=True,
                        help='OpenSSH-format private host key file')
    parser.add_argument('--authorized-keys', required=True,
                        help='OpenSSH authorized_keys file')
    parser.add_argument('--verbose', '-v', action='store_true',
                        help='log asyncssh debug output to stderr')
    args = parser.parse_args()

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr,
                        format='%(asctime)s %(name)s: %(message)s')
    asyncio.run(serve(args))


if __name__ == '__main__':
    main()
