"""How long to wait between attempts at something that keeps failing."""

from __future__ import annotations

from collections.abc import Iterator


def backoff_delays(initial: float, maximum: float) -> Iterator[float]:
    """Seconds to wait before each attempt: doubling from ``initial``, capped at ``maximum``; never ends."""
    delay = initial
    while True:
        yield delay
        delay = min(delay * 2, maximum)
