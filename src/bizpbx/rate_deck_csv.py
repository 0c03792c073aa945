"""Reading a rate deck: a CSV file of outbound prices per prefix.

Columns (header required): ``prefix,rate`` and optionally ``initial``,
``subsequent``, ``free_seconds``, ``connect_fee``, ``description``. A prefix
may be a range in the tariff tables' notation (``783141-3``). Every problem
is reported with the file and line; the site loader reads the decks a site
names and hands them to the model (`bizpbx.settings.rate_decks`).
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bizpbx.numbers.prefixes import PrefixSpecError, expand
from bizpbx.numbers.prefixes import size as prefix_count
from bizpbx.settings import Increments, RateDeck, RateRow

_DECK_COLUMNS = ("prefix", "rate", "initial", "subsequent", "free_seconds", "connect_fee", "description")

# A deck of a million prefixes is several times the largest carrier's; the
# cap keeps a deck (and its ranges) from filling the memory.
MAX_DECK_PREFIXES = 500_000
# Decks are the operator's own files, yet a wrong path (../../etc/passwd)
# must not show another file's content: nothing of a file is quoted until
# its header says it is a deck, and then only short excerpts.
_EXCERPT = 40


def _excerpt(text: str) -> str:
    return repr(text) if len(text) <= _EXCERPT else repr(text[:_EXCERPT]) + "…"


class _DeckError(ValueError):
    pass


def _decimal(text: str, column: str, where: str) -> Decimal:
    try:
        value = Decimal(text) if len(text) <= _EXCERPT else None
    except InvalidOperation:
        value = None
    if value is None:
        raise _DeckError(f"{where}: {column} {_excerpt(text)} is not a number")
    if not value.is_finite() or value < 0:
        raise _DeckError(f"{where}: {column} {_excerpt(text)} must be a non-negative number")
    sign, digits, exponent = value.as_tuple()
    if isinstance(exponent, int) and exponent < -2:
        raise _DeckError(f"{where}: {column} {_excerpt(text)} has more than 2 decimal places")
    if value >= Decimal(10) ** 12:
        raise _DeckError(f"{where}: {column} {_excerpt(text)} is too large")
    return value


def _int(text: str, column: str, where: str, minimum: int) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or int(text) < minimum:
        raise _DeckError(f"{where}: {column} {_excerpt(text)} must be a whole number >= {minimum} (at most 9 digits)")
    return int(text)


# A deck's line is a prefix, a few numbers and a description.
MAX_DECK_LINE = 4096


def _deck_lines(handle: Any, path: Path) -> Iterator[str]:
    """The file's lines as text (newlines kept, for quoted fields), each checked to be UTF-8."""
    number = 0
    while raw := handle.readline(MAX_DECK_LINE + 1):
        number += 1
        if len(raw) > MAX_DECK_LINE:
            raise _DeckError(f"{path}:{number}: a line longer than {MAX_DECK_LINE} bytes" + ("" if number > 1 else ": not a rate deck"))
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _DeckError(f"{path}:{number}: not UTF-8 text (byte {error.start + 1} of the line)") from None


def read_rate_deck(path: Path) -> RateDeck:
    """Read a rate deck; every problem is reported with the file and line."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ValueError(f"cannot read rate deck {path}: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # /dev/zero would never end
        handle.close()
        raise ValueError(f"{path}: not a rate deck: not a regular file")
    reader = csv.reader(_deck_lines(handle, path), strict=True)
    try:
        with handle:
            return _read_deck_rows(path, reader)
    except csv.Error as error:
        raise ValueError(f"{path}:{reader.line_num}: not a CSV line ({error})") from None
    except OSError as error:
        raise ValueError(f"cannot read rate deck {path}: {error.strerror}") from None
    except _DeckError as error:
        raise ValueError(str(error)) from None


def _read_deck_rows(path: Path, reader: Any) -> RateDeck:
    header = [column.strip().lower() for column in next(reader, [])]
    if header[:2] != ["prefix", "rate"]:
        raise _DeckError(f"{path}:1: not a rate deck: the first line must be a header starting with prefix,rate")
    unknown = [column for column in header if column not in _DECK_COLUMNS]
    if unknown or len(set(header)) != len(header):
        what = f"unknown column(s) {', '.join(_excerpt(c) for c in unknown[:5])}" if unknown else "a column named twice"
        raise _DeckError(f"{path}:1: {what}; the header is prefix,rate and may add {', '.join(_DECK_COLUMNS[2:])}")
    rows: list[RateRow] = []
    seen: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        where = f"{path}:{line}"
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise _DeckError(f"{where}: {len(values)} columns where the header has {len(header)}")
        record = dict(zip(header, (v.strip() for v in values), strict=True))
        try:
            count = prefix_count(record["prefix"])
        except PrefixSpecError as error:
            raise _DeckError(f"{where}: {error}") from None
        if len(rows) + count > MAX_DECK_PREFIXES:
            raise _DeckError(f"{where}: the deck stands for more than {MAX_DECK_PREFIXES} prefixes")
        increments = Increments(
            initial=_int(record.get("initial") or "60", "initial", where, 1),
            subsequent=_int(record.get("subsequent") or "60", "subsequent", where, 1),
            free_seconds=_int(record.get("free_seconds") or "0", "free_seconds", where, 0),
        )
        rate = _decimal(record["rate"], "rate", where)
        connect_fee = _decimal(record.get("connect_fee") or "0", "connect_fee", where)
        description = record.get("description", "")
        if len(description) > 200:
            raise _DeckError(f"{where}: description longer than 200 characters")
        for prefix in expand(record["prefix"]):
            if prefix in seen:
                raise _DeckError(f"{where}: prefix {prefix} is already priced on line {seen[prefix]}")
            seen[prefix] = line
            rows.append(
                RateRow(prefix=prefix, rate=rate, increments=increments, connect_fee=connect_fee, description=description, line=line)
            )
    return RateDeck(path=path, rows=tuple(rows))
