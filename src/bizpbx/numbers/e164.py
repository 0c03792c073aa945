"""Phone numbers as CDRs carry them, reduced to E.164 digits without '+'.

The rate tables (the trunk's deck, the 8-800 origins) are keyed by E.164
digits, so every number is brought to that form first. What a Russian switch
sees, and how it is read:

- ``+<digits>``: E.164 already.
- 11 digits starting with 8 or 7 (``84951234567``, ``74951234567``): Russian,
  with the trunk prefix 8 or the country code 7.
- 10 digits (``4951234567``): a Russian national number.
- ``810<digits>``: the old Russian international prefix before E.164 digits.
- any other run of 7 or more digits: E.164 without the '+', as trunks send it.
- 2 to 6 digits: an internal extension, not a phone number.
- anything with spaces, dashes or brackets (``8 (495) 123-45-67``) is left to
  the `phonenumbers` library with Russia as the default region.

Pure digit strings, the form FreeSWITCH hands over, take a fast path of string
operations (rating a million calls cannot afford a full parse each); the tests
hold that path to the answers of `phonenumbers`.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

_RUSSIAN_INTERNATIONAL_PREFIX = "810"
_SHORTEST_E164 = 7
_LONGEST_E164 = 15
_LONGEST_EXTENSION = 6


def e164_digits(text: str) -> str | None:
    """The number as E.164 digits without '+', or None when it is not a phone
    number (an extension, an empty caller ID, garbage)."""
    if text[:1] == "+":
        digits = text[1:]
        if digits.isascii() and digits.isdigit():
            return digits if _SHORTEST_E164 <= len(digits) <= _LONGEST_E164 else None
    elif _ascii_digits(text):
        length = len(text)
        if length == 11 and text[0] in "78":
            return "7" + text[1:]
        if length == 10:
            return "7" + text
        if text.startswith(_RUSSIAN_INTERNATIONAL_PREFIX) and length > len(_RUSSIAN_INTERNATIONAL_PREFIX) + _SHORTEST_E164:
            return _international(text[len(_RUSSIAN_INTERNATIONAL_PREFIX) :])
        return _international(text)
    return _parsed(text.strip())


def is_extension(text: str) -> bool:
    return _ascii_digits(text) and 2 <= len(text) <= _LONGEST_EXTENSION


def _ascii_digits(text: str) -> bool:
    # str.isdigit alone also accepts other scripts' digits and superscripts.
    return text.isascii() and text.isdigit()


def _international(digits: str) -> str | None:
    return digits if _SHORTEST_E164 <= len(digits) <= _LONGEST_E164 else None


@lru_cache(maxsize=4096)
def _parsed(text: str) -> str | None:
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, "RU")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


# +7 is shared: Kazakhstan has +7 6… and +7 7…, Russia the rest.
_KAZAKH_AFTER_7 = ("6", "7")


def is_russian(digits: str) -> bool:
    """Whether E.164 digits are a Russian number. Decided by the numbering
    plan rather than `phonenumbers`' validity, so that a Russian range its
    metadata does not know yet still counts as Russian (the tests hold the two
    to agreement wherever `phonenumbers` knows the number)."""
    return digits[:1] == "7" and digits[1:2] not in _KAZAKH_AFTER_7


@lru_cache(maxsize=4096)
def region_of(digits: str) -> str | None:
    """The country (ISO code) of E.164 digits: RU, KZ (which shares +7), DE…;
    None for a number no country has."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse("+" + digits))
    except phonenumbers.NumberParseException:
        return None
