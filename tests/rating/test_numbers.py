"""Number normalization: the fast path agrees with phonenumbers."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bizpbx.numbers.e164 import e164_digits, is_extension, is_russian, region_of


@pytest.mark.parametrize(
    "text",
    ["+74951234567", "74951234567", "84951234567", "4951234567", "8 495 123-45-67", "8 (495) 123 45 67", "+7 (495) 123-45-67"],
)
def test_forms_of_one_moscow_number(text: str) -> None:
    assert e164_digits(text) == "74951234567"


@pytest.mark.parametrize(
    ("text", "digits"),
    [("+493012345678", "493012345678"), ("810493012345678", "493012345678"), ("493012345678", "493012345678"), ("88005553535", "78005553535")],
)
def test_international_and_toll_free(text: str, digits: str) -> None:
    assert e164_digits(text) == digits


@pytest.mark.parametrize("text", ["", "101", "12", "anonymous", "+", "+12", "1234567890123456"])
def test_not_numbers(text: str) -> None:
    assert e164_digits(text) is None


def test_extensions() -> None:
    assert [is_extension(t) for t in ("10", "101", "123456", "1", "1234567", "10a")] == [True, True, True, False, False, False]


def _library(text: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(text, "RU"), phonenumbers.PhoneNumberFormat.E164)[1:]


national = st.from_regex(r"[3489][0-9]{9}", fullmatch=True)


@given(national)
def test_fast_path_agrees_with_phonenumbers_on_russian_forms(ten: str) -> None:
    expected = _library("+7" + ten)
    assert e164_digits(ten) == e164_digits("8" + ten) == e164_digits("7" + ten) == e164_digits("+7" + ten) == expected
    assert _library("8" + ten) == expected


@given(st.from_regex(r"7[0-9]{10}", fullmatch=True))
def test_russian_by_numbering_plan_agrees_with_phonenumbers(digits: str) -> None:
    region = region_of(digits)
    if region in ("RU", "KZ"):
        assert is_russian(digits) == (region == "RU")


def test_kazakhstan_shares_plus_seven() -> None:
    assert not is_russian("77011234567")
    assert is_russian("79161234567")
    assert not is_russian("493012345678")


def test_other_scripts_digits_are_not_taken_for_ascii() -> None:
    # Arabic-Indic digits are read by phonenumbers as the digits they are;
    # superscripts are not digits of a phone number at all.
    assert e164_digits("٨٤٩٥١٢٣٤٥٦٧") == "74951234567"
    assert e164_digits("²²²²²²²²²²²") is None
    assert not is_extension("١٠١")
