"""Caller numbers an organization refuses (its blocklist), for both routers.

An entry is an E.164 number (``+74951234567``) or a prefix ending in ``*``
(``+7495*``). The controller reads the caller's number as `bizpbx.numbers.e164`
does and compares digits; the fallback dialplan has only a regular
expression over the caller ID as the trunk gives it, so `blocked_expression`
spells the same reading for the digit-only forms trunks send (+E.164, 11
digits with 7 or 8, 10 national digits, 810 and E.164, bare E.164 digits). A
caller ID with spaces or signs is read by the controller alone.
"""

from __future__ import annotations

import re

from bizpbx.numbers.e164 import e164_digits

_SHORTEST, _LONGEST = 7, 15  # E.164 digits, as bizpbx.numbers.e164 reads them


def blocking_entry(caller: str, blocklist: tuple[str, ...]) -> str | None:
    """The blocklist entry the caller's number matches, if any."""
    digits = e164_digits(caller) if caller else None
    if digits is None:
        return None
    for entry in blocklist:
        wanted = entry[1:].rstrip("*")
        if digits == wanted or (entry.endswith("*") and digits.startswith(wanted)):
            return entry
    return None


def blocked_expression(blocklist: tuple[str, ...]) -> str:
    """A regular expression matching every digit-only caller ID that `blocking_entry` blocks."""
    return "^(?:" + "|".join(_entry_forms(entry) for entry in blocklist) + ")$"


def _entry_forms(entry: str) -> str:
    prefix = entry[1:].rstrip("*")
    if entry.endswith("*"):
        lengths = range(max(len(prefix), _SHORTEST), _LONGEST + 1)
    else:
        lengths = range(len(prefix), len(prefix) + 1)
    forms = []
    for total in lengths:  # E.164 digits in all
        rest = total - len(prefix)
        tail = rf"\d{{{rest}}}" if rest else ""
        forms.append(rf"\+{prefix}{tail}")
        if total >= 9:
            forms.append(rf"810{prefix}{tail}")  # the old international prefix: 12 digits or more
        if total == 11 and prefix.startswith("7"):
            forms.append(rf"[78]{prefix[1:]}{tail}")  # 11 digits: country code 7 or trunk prefix 8
            forms.append(rf"{prefix[1:]}{tail}")  # 10 national digits
        elif total in (7, 8, 9) or (total == 11 and prefix[:1] != "8"):
            forms.append(rf"{prefix}{tail}")  # E.164 digits without the +
        elif total >= 12:
            forms.append(rf"(?!810){prefix}{tail}")
    return "|".join(forms)
