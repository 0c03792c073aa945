"""The price of a call computed the plain way, in Decimal, straight from the
rules (RULES.md and `bizpbx.rating.deck`'s rounding convention): the oracle
that the fast integer path is held to."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def reference_price(rate: Decimal, initial: int, subsequent: int, free_seconds: int, connect_fee: Decimal, billsec: int) -> tuple[Decimal, int]:
    """(cost in roubles, billed seconds)."""
    if billsec <= 0 or billsec < free_seconds:
        return Decimal("0.00"), 0
    billed = initial
    while billed < billsec:
        billed += subsequent
    exact = connect_fee + rate * Decimal(billed) / Decimal(60)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), billed
