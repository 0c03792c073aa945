"""What the test doubles of FreeSWITCH share: reading a client's command as mod_event_socket does,
its head to the blank line, then as many bytes of body as its Content-Length says."""

from __future__ import annotations

import asyncio
import re

CONTENT_LENGTH = re.compile(rb"^content-length: *(\d+)$", re.IGNORECASE | re.MULTILINE)


async def read_command(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\n\n")
    length = CONTENT_LENGTH.search(head)
    return head + (await reader.readexactly(int(length.group(1))) if length else b"")
