"""One raw HTTP/1.1 request to the controller's HTTP listener on a free loopback port."""

from __future__ import annotations

import asyncio

from bizpbx.controller.http_server import HttpServer


def exchange(endpoints: list, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Serve `endpoints`, send `request`, read the answer until the server closes: its status,
    headers (lower-case names) and body."""

    async def scenario() -> bytes:
        server = await HttpServer(endpoints).serve("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        raw = await reader.read()
        writer.close()
        server.close()
        await server.wait_closed()
        return raw

    raw = asyncio.run(asyncio.wait_for(scenario(), 30))
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split(" ")[1]), headers, body
