"""A loopback TCP proxy that adds latency: a stand-in for a remote mail provider (stdlib only).

    python bench/latency_proxy.py --delay-ms 40 --target 22993 --target 22465

Listens on 127.0.0.1 (one ephemeral port per --target, printed as one JSON line on stdout:
{"22993": 41234, "22465": 41235}) and forwards each connection to 127.0.0.1:TARGET byte for
byte (TLS passes through untouched). Every chunk is held for half the delay in each direction,
so a request and its answer pay the whole delay, like a round trip to a remote server; chunks
are queued, not serialised, so throughput stays that of loopback (a long FETCH answer pays the
delay once). Connection set-up pays it too: the upstream connection is opened at once, and the
server's greeting reaches the client half a delay later, the client's first bytes the server
half a delay after they were sent. Runs until SIGTERM or SIGINT.

bench/mailboxes.py starts it as a subprocess, so that it never competes for the GIL with a
contender measured in the benchmark process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

HOST = "127.0.0.1"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await sender
    except (OSError, asyncio.IncompleteReadError):
        sender.cancel()
    finally:
        if not sender.done():
            with contextlib.suppress(BaseException):
                await sender


async def _serve_one(
    client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
    target: int, delay: float,
) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection(HOST, target)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(
            _pipe(client_reader, server_writer, delay / 2),
            _pipe(server_reader, client_writer, delay / 2),
            return_exceptions=True,
        )
    finally:
        for w in (client_writer, server_writer):
            w.close()
            with contextlib.suppress(OSError):
                await w.wait_closed()


async def serve(targets: list[int], delay: float) -> None:
    servers = []
    ports: dict[str, int] = {}
    for target in targets:
        server = await asyncio.start_server(
            lambda r, w, t=target: _serve_one(r, w, t, delay), HOST, 0
        )
        servers.append(server)
        ports[str(target)] = server.sockets[0].getsockname()[1]
    print(json.dumps(ports), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=40.0, help="added round-trip delay")
    parser.add_argument("--target", type=int, action="append", required=True,
                        help="a port on 127.0.0.1 to forward to (repeatable)")
    args = parser.parse_args()
    asyncio.run(serve(args.target, args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
