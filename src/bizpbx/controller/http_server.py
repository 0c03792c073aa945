"""The controller's one HTTP listener (`controller.api`: its host, port and
the CRM's networks): HTTP/1.1, one request per connection, read with limits
and a deadline. It hands each request to the endpoint whose path prefix it
starts with (the click-to-call API under /v1/, the recordings under
/recordings/) and writes the endpoint's answer, a file streamed in chunks
when the answer is one. Query strings are never logged: the recordings'
carry their signatures.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
READ_SECONDS = 10
CHUNK_BYTES = 64 * 1024

REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
REASONS.update({409: "Conflict", 410: "Gone", 413: "Content Too Large", 501: "Not Implemented", 503: "Service Unavailable"})


class HttpError(Exception):
    """A refused request: its status and a message naming what is wrong (sent as {"error": …})."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # without the query
    query: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    file: BinaryIO | None = None  # open, streamed after the head instead of `body`, closed once sent
    file_size: int = 0
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, answer: Any) -> Response:
        return cls(status, json.dumps(answer, ensure_ascii=False).encode())


class Endpoint(Protocol):
    prefix: str  # the paths it answers start with this

    async def answer(self, request: Request) -> Response: ...


class HttpServer:
    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints = endpoints

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._connection, host, port, limit=MAX_HEAD)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(read_request(reader), READ_SECONDS)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError, ValueError):
            writer.close()
            return
        try:
            response = await self._dispatch(request)
        except HttpError as error:
            response = Response.json(error.status, {"error": error.message})
        log.info("HTTP %s %s: %d", request.method, request.path, response.status)
        try:
            await _write(writer, request.method, response)
        except ConnectionError:
            pass
        finally:
            if response.file is not None:
                response.file.close()
            writer.close()

    async def _dispatch(self, request: Request) -> Response:
        for endpoint in self.endpoints:
            if request.path.startswith(endpoint.prefix):
                return await endpoint.answer(request)
        served = ", ".join(endpoint.prefix for endpoint in self.endpoints)
        raise HttpError(404, f"no such resource {request.path!r}: this listener serves {served}")


async def read_request(reader: asyncio.StreamReader) -> Request:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *lines = head.rstrip("\r\n").split("\r\n")
    method, target, _version = request_line.split(" ")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if not 0 <= length <= MAX_HEAD:
        raise ValueError("body too long")
    body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    return Request(method, path, query, headers, body)


async def _write(writer: asyncio.StreamWriter, method: str, response: Response) -> None:
    length = response.file_size if response.file is not None else len(response.body)
    lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, '')}", f"Content-Type: {response.content_type}", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    writer.write(("\r\n".join([*lines, "Connection: close", "", ""])).encode())
    if method == "HEAD":
        pass
    elif response.file is None:
        writer.write(response.body)
    else:
        # Never more than the length announced, should the file grow meanwhile.
        left = length
        while left > 0 and (chunk := response.file.read(min(CHUNK_BYTES, left))):
            writer.write(chunk)
            left -= len(chunk)
            await writer.drain()
    await writer.drain()
