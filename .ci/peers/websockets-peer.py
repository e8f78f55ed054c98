"""A scripted WebSocket server on python3-websockets (Debian's), for Parley's interop specs: the same paths as
ws-peer.js, from a second implementation nobody on this project wrote. Prints "listening <port>" once it accepts
connections on 127.0.0.1 (port from $PORT, 0 for any). PMD=1 turns permessage-deflate on; PMD_OPTIONS (JSON) gives
the keyword arguments of websockets' ServerPerMessageDeflateFactory (server_no_context_takeover, ...)."""
import asyncio
import http
import json
import os
from urllib.parse import parse_qs, urlsplit

import websockets
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


def query(path):
    parts = urlsplit(path)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


async def reject(path, headers):
    route, q = query(path)
    if route == "/reject":
        return http.HTTPStatus(int(q.get("status", "403"))), [("Content-Length", "0")], b""
    return None


async def handle(ws, path):
    route, q = query(path)
    if route == "/echo":
        async for message in ws:
            await ws.send(message)
    elif route == "/fragments":
        count = int(q.get("count", "3"))
        async for message in ws:
            size = -(-len(message) // count)
            await ws.send([message[i * size:(i + 1) * size] for i in range(count)])
    elif route == "/extensions":
        await ws.send("extensions " + ws.request_headers.get("Sec-WebSocket-Extensions", ""))
        async for message in ws:
            await ws.send(message)
    elif route == "/ping":
        pongs = 0
        every = int(q.get("every", "200")) / 1000

        async def pinging():
            nonlocal pongs
            while True:
                await asyncio.sleep(every)
                waiter = await ws.ping(b"peer-ping")
                await waiter
                pongs += 1

        task = asyncio.ensure_future(pinging())
        try:
            async for message in ws:
                await ws.send(f"pongs {pongs}" if message == "pongs?" else message)
        finally:
            task.cancel()
    elif route == "/close":
        await ws.close(int(q.get("code", "1000")), q.get("reason", ""))
    elif route == "/destroy":
        seen = 0
        async for message in ws:
            await ws.send(message)
            seen += 1
            if seen >= int(q.get("after", "1")):
                ws.transport.abort()
                return
    elif route == "/silent":
        ws.transport.pause_reading()
        await asyncio.sleep(3600)
    else:
        await ws.close(1008, "unknown path")


async def main():
    deflate = os.environ.get("PMD") == "1"
    extensions = [ServerPerMessageDeflateFactory(**json.loads(os.environ.get("PMD_OPTIONS") or "{}"))] if deflate else None
    async with websockets.serve(handle, "127.0.0.1", int(os.environ.get("PORT", "0")), process_request=reject,
                                compression=None, extensions=extensions,
                                max_size=64 << 20, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()


asyncio.run(main())
