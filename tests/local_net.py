"""Helpers of the tests: free loopback ports, and waiting with a bound."""

from __future__ import annotations

import asyncio
import socket


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(port: int) -> bool:
    """Whether something accepts TCP connections on loopback `port` (a switch's event socket)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


async def until(condition, what: str, bound: float = 60.0) -> None:
    """Wait for `condition()`; the bound only turns a hang into a failure, nothing is timed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not condition():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)
