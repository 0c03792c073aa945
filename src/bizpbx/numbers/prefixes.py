"""Dialling-prefix notation of the hosted service's tariff tables.

"783141-3" means 783141, 783142, 783143: the digits after the dash replace the
same number of trailing digits of the start. "7846300-4" likewise gives
7846300 … 7846304, and a full-length end ("784630-784634") is accepted too.
The source text writes the dash as '-' or '–'.
"""

from __future__ import annotations

import re

_SPEC = re.compile(r"^([0-9]+)(?:\s*[-–]\s*([0-9]+))?$")

# An E.164 number has at most 15 digits, so a longer prefix matches nothing.
MAX_DIGITS = 15
# The tariff tables' ranges span a handful of codes; a range of millions is a
# mistake (write the shorter common prefix instead) and would fill the memory.
MAX_RANGE = 10_000


class PrefixSpecError(ValueError):
    """A prefix or range that cannot be read; the message says why."""


def _bounds(spec: str) -> tuple[str, str]:
    """The first and last prefix of a spec, checked."""
    match = _SPEC.match(spec.strip())
    if match is None:
        raise PrefixSpecError(f"{_shown(spec)} is not a digit prefix or a range such as 783141-3")
    start, end_tail = match.groups()
    if len(start) > MAX_DIGITS:
        raise PrefixSpecError(f"{_shown(spec)}: a prefix has at most {MAX_DIGITS} digits (an E.164 number has no more)")
    if end_tail is None:
        return start, start
    if len(end_tail) > len(start):
        raise PrefixSpecError(f"{_shown(spec)}: the end of the range is longer than its start")
    end = start[: len(start) - len(end_tail)] + end_tail
    if end < start:
        raise PrefixSpecError(f"{_shown(spec)}: the range ends before it starts")
    if int(end) - int(start) >= MAX_RANGE:
        raise PrefixSpecError(
            f"{_shown(spec)}: the range spans {int(end) - int(start) + 1} prefixes, more than {MAX_RANGE}; write their common prefix instead"
        )
    return start, end


def _shown(spec: str) -> str:
    return repr(spec) if len(spec) <= 40 else repr(spec[:40]) + "…"


def size(spec: str) -> int:
    """How many prefixes a spec stands for, without listing them; PrefixSpecError if unreadable."""
    start, end = _bounds(spec)
    return int(end) - int(start) + 1


def expand(spec: str) -> list[str]:
    """Every prefix a spec stands for, in ascending order."""
    start, end = _bounds(spec)
    if start == end:
        return [start]
    width = len(start)
    return [str(value).zfill(width) for value in range(int(start), int(end) + 1)]
