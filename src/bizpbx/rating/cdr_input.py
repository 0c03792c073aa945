"""Reading CDRs into `CallRecord`s: `mod_cdr_csv` lines and JSON lines.

A CSV line has exactly the columns of `bizpbx.cdr.CDR_COLUMNS`, quoted, in
that order, the caller-controlled ones percent-encoded (or only the first
one of `EARLIER_COLUMN_COUNTS`: a line written before the later ones existed, read
with them empty, so an upgrade never leaves a CDR unread); a JSON line is an object with those column names as keys (a
missing key reads as an empty column, as an unset channel variable does in
`mod_cdr_csv`). A file may mix both: a line starting with ``{`` is JSON.

Each line gives either a record or a `CdrError` saying what is wrong, so
that a bad line is reported with its file and line number and the others
are still read. A last line without its newline is still being written (or
was cut short): it is `Incomplete`, never read with what fields it has.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import unquote

from bizpbx.cdr import CDR_COLUMNS, EARLIER_COLUMN_COUNTS, ENCODED_COLUMNS
from bizpbx.rating.rate import CallRecord, Direction
from bizpbx.settings import NumberKind

COLUMNS = tuple(name for name, _ in CDR_COLUMNS)
_KNOWN = frozenset(COLUMNS)
_DIRECTIONS = {d.value: d for d in Direction}
_KINDS = {k.value: k for k in NumberKind}


class CdrError(ValueError):
    """Why one CDR line cannot be rated."""


class NeverRouted(CdrError):
    """A call the switch refused before its dialplan ran (throttled, over the session limit, no
    route): its CDR has none of the dialplan's variables, and there is nothing to rate."""


class Incomplete(CdrError):
    """The file's last line has no newline yet: mod_cdr_csv is still writing
    it, or it was cut short. Not rated now; read again once it is whole."""


# Whole seconds since 1970 or of a call: ten digits last until the year 2286.
MAX_SECONDS_DIGITS = 10
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_cdr_file(path: Path) -> Iterator[tuple[int, CallRecord | CdrError]]:
    """(line number, record or error) for every non-blank line of a file."""
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                if raw.strip():
                    yield number, Incomplete("the last line has no newline (still being written, or cut short): not rated yet")
                continue
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                yield number, CdrError(f"not UTF-8 text (byte {error.start + 1})")
                continue
            if not text:
                continue
            try:
                yield number, parse_cdr_line(text)
            except CdrError as error:
                yield number, error


def parse_cdr_line(text: str) -> CallRecord:
    """One line, CSV or JSON, as a record; CdrError if it is not one."""
    return record_from_columns(_json_columns(text) if text.startswith("{") else _csv_columns(text))


def record_from_columns(values: Mapping[str, str]) -> CallRecord:
    uuid = values.get("uuid", "")
    if not uuid:
        raise CdrError("uuid is empty")
    direction = _DIRECTIONS.get(values.get("direction", ""))
    if not any(values.get(column) for column in ("direction", "organization", "trunk")):
        raise NeverRouted(f"never reached the dialplan (hangup cause {values.get('hangup_cause') or 'unknown'})")
    if direction is None:
        raise CdrError(f"direction {values.get('direction', '')!r} is not one of {', '.join(_DIRECTIONS)}")
    kind_text = values.get("number_kind", "")
    kind = _KINDS.get(kind_text) if kind_text else None
    if kind_text and kind is None:
        raise CdrError(f"number_kind {kind_text!r} is not one of {', '.join(_KINDS)} or empty")
    answer_epoch = _whole(values, "answer_epoch")
    billsec = _whole(values, "billsec")
    if billsec and not answer_epoch:
        raise CdrError(f"billsec is {billsec} but the call was never answered (answer_epoch 0)")
    return CallRecord(
        uuid=uuid,
        organization=values.get("organization", ""),
        direction=direction,
        called_number=values.get("called_number", ""),
        number_kind=kind,
        caller=values.get("caller", ""),
        callee=values.get("callee", ""),
        answer_epoch=answer_epoch,
        billsec=billsec,
        hangup_cause=values.get("hangup_cause", ""),
        trunk=values.get("trunk", ""),
        start_epoch=_whole(values, "start_epoch") if values.get("start_epoch") else 0,
        end_epoch=_whole(values, "end_epoch") if values.get("end_epoch") else 0,
        bridge_epoch=_whole(values, "bridge_epoch") if values.get("bridge_epoch") else None,
        answered_by=values.get("answered_by", ""),
        voicemail=values.get("voicemail", ""),
        recording=values.get("recording", ""),
    )


def _whole(values: Mapping[str, str], column: str) -> int:
    text = values.get(column, "")
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_SECONDS_DIGITS):
        raise CdrError(f"{column} {_excerpt(text)} is not a whole number of seconds (at most {MAX_SECONDS_DIGITS} digits)")
    return int(text)


def _excerpt(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "…"


def _csv_columns(text: str) -> dict[str, str]:
    try:
        fields = next(csv.reader([text], strict=True))
    except csv.Error as error:
        raise CdrError(f"not a CSV line: {error}") from None
    if len(fields) != len(COLUMNS) and len(fields) not in EARLIER_COLUMN_COUNTS:
        earlier = " or ".join(map(str, EARLIER_COLUMN_COUNTS))
        raise CdrError(f"{len(fields)} columns where a bizpbx CDR has {len(COLUMNS)} ({','.join(COLUMNS)}), or {earlier} if written before the last ones")
    if not text.endswith('"'):
        # The template quotes every value: a line ending otherwise was cut
        # short after a comma, and its last values are missing.
        raise CdrError("the line ends after a comma, not a quoted value: it was cut short")
    columns = dict(zip(COLUMNS, fields))
    for column in ENCODED_COLUMNS:
        columns[column] = unquote(columns[column], errors="replace")
    return columns


def _json_columns(text: str) -> dict[str, str]:
    try:
        data = json.loads(text, parse_int=_json_int, parse_float=_json_float)
    except json.JSONDecodeError as error:
        raise CdrError(f"not JSON: {error.msg} at column {error.colno}") from None
    except RecursionError:
        raise CdrError("not JSON a CDR can be: nested too deeply") from None
    except ValueError as error:  # from _json_int, _json_float
        raise CdrError(str(error)) from None
    if not isinstance(data, dict):
        raise CdrError("not a JSON object")
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise CdrError(f"unknown column(s) {', '.join(name if len(name) <= 40 else name[:40] + '…' for name in unknown[:5])}")
    columns = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise CdrError(f"{key} must be a string or a whole number, not {_json_type(value)}")
        text = str(value)
        if _SURROGATE.search(text):
            raise CdrError(f"{key} holds an unpaired surrogate escape (\\ud800-\\udfff): not text")
        columns[key] = text
    return columns


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > 18:
        raise ValueError(f"a number of {len(text)} digits is no CDR value")
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > 40:
        raise ValueError(f"a number of {len(text)} characters is no CDR value")
    return float(text)


def _json_type(value: object) -> str:
    if isinstance(value, float):
        return f"the number {value!r}"
    return {type(None): "null", bool: "true/false", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
