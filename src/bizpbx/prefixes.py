"""Dialling-prefix notation of the hosted service's tariff tables.

"783141-3" means 783141, 783142, 783143: the digits after the dash replace the
same number of trailing digits of the start. "7846300-4" likewise gives
7846300 … 7846304, and a full-length end ("784630-784634") is accepted too.
The source text writes the dash as '-' or '–'.
"""

from __future__ import annotations

import re

_SPEC = re.compile(r"^([0-9]+)(?:\s*[-–]\s*([0-9]+))?$")


class PrefixSpecError(ValueError):
    """A prefix or range that cannot be read; the message says why."""


def expand(spec: str) -> list[str]:
    """Every prefix a spec stands for, in ascending order."""
    match = _SPEC.match(spec.strip())
    if match is None:
        raise PrefixSpecError(f"{spec!r} is not a digit prefix or a range such as 783141-3")
    start, end_tail = match.groups()
    if end_tail is None:
        return [start]
    if len(end_tail) > len(start):
        raise PrefixSpecError(f"{spec!r}: the end of the range is longer than its start")
    end = start[: len(start) - len(end_tail)] + end_tail
    if end < start:
        raise PrefixSpecError(f"{spec!r}: the range ends before it starts")
    width = len(start)
    return [str(value).zfill(width) for value in range(int(start), int(end) + 1)]
