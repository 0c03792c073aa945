"""The longest-prefix index against a plain scan; range expansion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bizpbx.numbers.prefixes import expand
from bizpbx.rating.deck import PrefixIndex

prefixes = st.lists(st.from_regex(r"[1-9][0-9]{0,7}", fullmatch=True), unique=True, max_size=60)
numbers = st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True)


def scan(table: list[str], number: str) -> str | None:
    matches = [p for p in table if number.startswith(p)]
    return max(matches, key=len) if matches else None


@given(prefixes, st.lists(numbers, max_size=30))
def test_index_finds_what_a_scan_finds(table: list[str], queries: list[str]) -> None:
    index = PrefixIndex((p, p) for p in table)
    for number in queries + [p + "123" for p in table]:
        assert index.longest(number) == scan(table, number)


def test_a_prefix_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="7495"):
        PrefixIndex([("7495", 1), ("7", 2), ("7495", 3)])


@given(st.from_regex(r"[1-9][0-9]{1,8}", fullmatch=True), st.integers(min_value=1, max_value=3), st.data())
def test_range_expansion(start: str, tail_length: int, data: st.DataObject) -> None:
    tail_length = min(tail_length, len(start))
    head, start_tail = start[: len(start) - tail_length], start[len(start) - tail_length :]
    end_tail = data.draw(st.integers(min_value=int(start_tail), max_value=10**tail_length - 1)).__str__().zfill(tail_length)
    expanded = expand(f"{start}-{end_tail}")
    assert expanded[0] == start and expanded[-1] == head + end_tail
    assert len(expanded) == int(end_tail) - int(start_tail) + 1
    assert all(len(p) == len(start) and p.startswith(head) for p in expanded)
    assert expanded == sorted(set(expanded))
