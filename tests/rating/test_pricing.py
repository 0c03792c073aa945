"""Increments, rounding, free seconds and connect fees of a deck row."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rating_oracle import reference_price

from bizpbx.rating.deck import Price, roubles
from bizpbx.settings import Increments


def price(rate: str, initial: int = 60, subsequent: int = 60, free: int = 0, fee: str = "0") -> Price:
    return Price("7", Decimal(rate), Increments(initial=initial, subsequent=subsequent, free_seconds=free), Decimal(fee), "test")


def cost(p: Price, billsec: int) -> tuple[Decimal, int]:
    billed, kopecks = p.charge(billsec)
    return roubles(kopecks), billed


@pytest.mark.parametrize(
    ("billsec", "billed_minutes"),
    [(1, 1), (59, 1), (60, 1), (61, 2), (119, 2), (120, 2), (121, 3), (3600, 60)],
)
def test_per_started_minute(billsec: int, billed_minutes: int) -> None:
    rate = Decimal("2.90")
    assert cost(price("2.90"), billsec) == (rate * billed_minutes, 60 * billed_minutes)


@pytest.mark.parametrize("billsec", [1, 2, 37, 59, 60, 61, 601])
def test_per_second(billsec: int) -> None:
    # 12.00 per minute is 0.20 per second, exactly.
    assert cost(price("12.00", 1, 1), billsec) == (Decimal("0.20") * billsec, billsec)


@pytest.mark.parametrize(
    ("billsec", "billed"),
    [(1, 30), (30, 30), (31, 36), (36, 36), (37, 42), (61, 66)],
)
def test_thirty_then_six(billsec: int, billed: int) -> None:
    # 9.80 per minute: 4.90 for the first 30 s, 0.98 per 6 s after.
    steps_after = (billed - 30) // 6
    assert cost(price("9.80", 30, 6), billsec) == (Decimal("4.90") + Decimal("0.98") * steps_after, billed)


def test_rounding_is_half_up_to_kopecks_on_the_whole_call() -> None:
    # 1.23/min for 61 s per second: 1.23 * 61 / 60 = 1.2505 → 1.25;
    # 0.03/min for 30 s: 0.015 → 0.02 (half up), not 0.01.
    assert cost(price("1.23", 1, 1), 61)[0] == Decimal("1.25")
    assert cost(price("0.03", 1, 1), 30)[0] == Decimal("0.02")
    assert cost(price("0.03", 1, 1), 29)[0] == Decimal("0.01")


def test_free_seconds() -> None:
    # RULES.md: calls shorter than the free seconds cost nothing; longer ones
    # are billed from the first second, connect fee included.
    row = price("1.20", free=3, fee="0.50")
    assert cost(row, 2) == (Decimal("0.00"), 0)
    assert cost(row, 3) == (Decimal("1.70"), 60)


def test_connect_fee_is_added_once() -> None:
    row = price("12.00", 1, 1, fee="0.50")
    assert cost(row, 10) == (Decimal("0.50") + Decimal("2.00"), 10)
    assert cost(row, 0) == (Decimal("0.00"), 0)


def test_more_decimal_places_than_kopecks_stay_exact() -> None:
    # A rate of 0.125/min (not a Money value in a deck, but the arithmetic
    # must not depend on two places): 0.125 * 60/60 = 0.125 → 0.13.
    assert cost(price("0.125"), 60)[0] == Decimal("0.13")


rates = st.decimals(min_value=0, max_value=1000, places=2)
fees = st.decimals(min_value=0, max_value=100, places=2)
steps = st.integers(min_value=1, max_value=300)
frees = st.integers(min_value=0, max_value=60)
seconds = st.integers(min_value=0, max_value=200_000)


@given(rates, steps, steps, frees, fees, seconds)
def test_integer_path_equals_decimal_reference(rate, initial, subsequent, free, fee, billsec) -> None:
    row = Price("7", rate, Increments(initial=initial, subsequent=subsequent, free_seconds=free), fee, "")
    assert cost(row, billsec) == reference_price(rate, initial, subsequent, free, fee, billsec)
    # The pieces the toll-fraud guard uses agree with the whole.
    assert roubles(row.kopecks(row.billed_seconds(billsec))) == cost(row, billsec)[0]


@given(st.decimals(min_value=0, max_value=1000, places=4), steps, steps, st.decimals(min_value=0, max_value=100, places=3), seconds)
def test_integer_path_is_exact_beyond_kopecks(rate, initial, subsequent, fee, billsec) -> None:
    row = Price("7", rate, Increments(initial=initial, subsequent=subsequent), fee, "")
    assert cost(row, billsec) == reference_price(rate, initial, subsequent, 0, fee, billsec)


@given(rates, steps, steps, frees, fees, seconds)
def test_cost_never_negative_and_two_places(rate, initial, subsequent, free, fee, billsec) -> None:
    row = Price("7", rate, Increments(initial=initial, subsequent=subsequent, free_seconds=free), fee, "")
    amount, billed = cost(row, billsec)
    assert amount >= 0
    assert amount.as_tuple().exponent == -2
    assert billed == 0 or billed >= billsec


@given(rates, steps, steps, frees, fees, seconds, st.integers(min_value=1, max_value=5000))
def test_cost_non_decreasing_in_duration(rate, initial, subsequent, free, fee, billsec, longer_by) -> None:
    row = Price("7", rate, Increments(initial=initial, subsequent=subsequent, free_seconds=free), fee, "")
    assert cost(row, billsec)[0] <= cost(row, billsec + longer_by)[0]
