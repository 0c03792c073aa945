"""Prices per dialling prefix, and the longest-prefix lookup over them.

A deck is indexed once (`PrefixIndex`): one dict from prefix to price and the
prefix lengths present, longest first. A lookup probes at most one slice of
the number per length, so it costs the same for a deck of ten rows or of a
hundred thousand (`bench/rating_bench.py` measures it against a linear scan).

`Price` turns billable seconds into money. Rounding, the project's convention
(RULES.md leaves it open): the seconds are rounded up to the increments
(``initial`` seconds for the first step, then ``subsequent`` seconds per
further step); the price of the call is the connect fee plus the rate per
minute times billed seconds / 60, computed exactly and rounded once, half up,
to whole kopecks. A call shorter than ``free_seconds`` costs nothing, not even
the connect fee; a longer one is billed from its first second.

The arithmetic is done in integers (the rate and fee scaled to their smallest
decimal place), so it is exact and fast; the price is whole kopecks, made a
`Decimal` of roubles with two places (`roubles`) where it leaves the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Generic, TypeVar

from bizpbx.numbers.prefixes import expand
from bizpbx.settings import HotlineOrigin, Increments, RateDeck

KOPECK_PLACES = 2
KOPECK = Decimal("0.01")
ZERO = Decimal("0.00")

T = TypeVar("T")


class PrefixIndex(Generic[T]):
    """Longest-prefix match of digit strings, built once."""

    __slots__ = ("_by_prefix", "_lengths")

    def __init__(self, entries: Iterable[tuple[str, T]]):
        self._by_prefix: dict[str, T] = {}
        for prefix, value in entries:
            if prefix in self._by_prefix:
                raise ValueError(f"prefix {prefix} is given twice")
            self._by_prefix[prefix] = value
        self._lengths = tuple(sorted({len(p) for p in self._by_prefix}, reverse=True))

    def longest(self, digits: str) -> T | None:
        """The value of the longest prefix of `digits`, or None."""
        by_prefix = self._by_prefix
        for length in self._lengths:
            value = by_prefix.get(digits[:length])
            if value is not None:
                return value
        return None

    def __len__(self) -> int:
        return len(self._by_prefix)


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


class Price:
    """The price of calls to one prefix (or from one 8-800 origin)."""

    __slots__ = (
        "prefix",
        "rate",
        "increments",
        "connect_fee",
        "description",
        "_initial",
        "_subsequent",
        "_free_seconds",
        "_rate_units",
        "_fee_units_per_minute",
        "_units_per_kopeck_minute",
    )

    def __init__(self, prefix: str, rate: Decimal, increments: Increments, connect_fee: Decimal, description: str):
        self.prefix = prefix
        self.rate = rate
        self.increments = increments
        self.connect_fee = connect_fee
        self.description = description
        self._initial = increments.initial
        self._subsequent = increments.subsequent
        self._free_seconds = increments.free_seconds
        # Money in units of 10**-places roubles, places >= 2, so both amounts are integers.
        places = max(KOPECK_PLACES, _places(rate), _places(connect_fee))
        unit = Decimal(10) ** places
        self._rate_units = int(rate * unit)
        self._fee_units_per_minute = int(connect_fee * unit) * 60
        self._units_per_kopeck_minute = 10 ** (places - KOPECK_PLACES) * 60

    def charge(self, billsec: int) -> tuple[int, int]:
        """(billed seconds, price in kopecks) of a call answered for `billsec`
        seconds; (0, 0) when it is free."""
        billed = self.billed_seconds(billsec)
        return billed, self.kopecks(billed)

    def billed_seconds(self, billsec: int) -> int:
        """Seconds charged for a call of `billsec` answered seconds (0: free)."""
        if billsec <= 0 or billsec < self._free_seconds:
            return 0
        initial = self._initial
        if billsec <= initial:
            return initial
        return initial + -(-(billsec - initial) // self._subsequent) * self._subsequent

    def kopecks(self, billed_seconds: int) -> int:
        """The price of `billed_seconds` in whole kopecks, rounded half up."""
        if billed_seconds == 0:
            return 0
        divisor = self._units_per_kopeck_minute
        whole, rest = divmod(self._fee_units_per_minute + self._rate_units * billed_seconds, divisor)
        return whole + 1 if 2 * rest >= divisor else whole

    def __repr__(self) -> str:
        return f"Price({self.prefix!r}, {self.rate}/min, {self._initial}/{self._subsequent}, free {self._free_seconds}s, fee {self.connect_fee})"


def roubles(kopecks: int) -> Decimal:
    return Decimal(kopecks) * KOPECK


def to_kopecks(amount: Decimal) -> Decimal:
    """An amount of roubles written with exactly two places (1990 → 1990.00)."""
    return amount.quantize(ZERO)


def deck_index(deck: RateDeck) -> PrefixIndex[Price]:
    return PrefixIndex(
        (row.prefix, Price(row.prefix, row.rate, row.increments, row.connect_fee, row.description)) for row in deck.rows
    )


def hotline_index(origins: Iterable[HotlineOrigin], billing: Increments) -> PrefixIndex[Price]:
    """8-800 prices by the caller's prefix; ranges are expanded, and a prefix
    given by two origins is refused (the table would be ambiguous)."""
    return PrefixIndex(
        (prefix, Price(prefix, origin.rate, billing, Decimal(0), origin.origin))
        for origin in origins
        for spec in origin.prefixes
        for prefix in expand(spec)
    )
