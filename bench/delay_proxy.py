#!/usr/bin/env python3
"""A TCP proxy that delays every byte by a fixed time in each direction, so a loopback sshd looks far away.

    delay_proxy.py LISTEN_PORT TARGET_PORT ONE_WAY_DELAY_MS

Used by bench/run.py's `latency` section (the kernel here has no netem). Each direction reads what arrives, stamps
it, and writes it out once its delay has passed; SSH's own windows bound what is in flight.
"""
import asyncio
import sys


async def forward(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(1 << 18)
            await queue.put((loop.time() + delay, data))
            if not data:
                break
    except ConnectionError:
        await queue.put((loop.time(), b""))
    await sender


async def main(listen_port, target_port, delay):
    async def accept(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(forward(client_reader, server_writer, delay), forward(server_reader, client_writer, delay),
                             return_exceptions=True)

    server = await asyncio.start_server(accept, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1000))
