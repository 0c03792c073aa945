"""Phone numbers as the switch hands them over, made comparable."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from bizpbx.settings import _to_e164

# The old Russian international prefix, still dialled from phones: 8 10 <country> …
_RUSSIAN_INTERNATIONAL_PREFIX = "810"


@lru_cache(maxsize=4096)
def to_e164(text: str) -> str | None:
    """The E.164 form of a number given as the trunk or a phone sends it
    (``78432123456``, ``84951234567``, ``+7…``, ``810 49…``), or None when it
    is not a possible phone number (an extension, garbage, nothing)."""
    digits = text.strip().replace(" ", "").replace("-", "")
    if digits.startswith(_RUSSIAN_INTERNATIONAL_PREFIX):
        digits = "+" + digits[len(_RUSSIAN_INTERNATIONAL_PREFIX) :]
    if not digits.lstrip("+").isdigit() or len(digits.lstrip("+")) < 7:
        return None
    try:
        return _to_e164(digits)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def region_of(e164: str) -> str | None:
    """The country (ISO code) a number belongs to, e.g. RU, KZ, DE."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164))


def country_code_of(e164: str) -> int:
    return phonenumbers.parse(e164).country_code
