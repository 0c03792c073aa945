"""The toll-fraud guard: may this organization place this outbound leg now?

Pure: the caller brings what it counted (calls in progress, today's spend
from the ledger) and the price of the first minute from the rating engine.
What the site alone decides (may it call this number at all) is
`bizpbx.routing.guard.destination_refusal`, which `bizpbx route --explain`
shows too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bizpbx.rating.deck import Price, roubles
from bizpbx.numbers.e164 import e164_digits
from bizpbx.routing.guard import REFUSAL_CAUSE, SOUND_LIMIT, SOUND_REFUSED, Refusal, destination_refusal
from bizpbx.settings import OutboundPolicy

__all__ = ["REFUSAL_CAUSE", "SOUND_LIMIT", "SOUND_REFUSED", "Refusal", "check_outbound", "day_bounds", "first_minute_price"]


def first_minute_price(price: Price) -> Decimal:
    """What the first minute of a call costs at `price` (the cap counts it before the call)."""
    return roubles(price.kopecks(price.billed_seconds(60)))


def check_outbound(
    policy: OutboundPolicy,
    org_id: str,
    number: str,
    *,
    calls_in_progress: int,
    spent_today: Decimal,
    price: Price | None,
) -> Refusal | None:
    """None when the leg may go; else why not."""
    refusal = destination_refusal(policy, org_id, number)
    if refusal is not None:
        return refusal
    digits = e164_digits(number)
    if calls_in_progress >= policy.max_concurrent_calls:
        return Refusal(
            "concurrent-calls",
            f"organization {org_id} already has {calls_in_progress} outbound calls, its limit is {policy.max_concurrent_calls}",
            SOUND_LIMIT,
        )
    if price is None:
        return Refusal("unpriced", f"no rate prices +{digits} for organization {org_id}: the spend cap cannot be kept", SOUND_REFUSED)
    first_minute = first_minute_price(price)
    if spent_today + first_minute > policy.daily_spend_cap:
        return Refusal(
            "spend-cap",
            f"organization {org_id} spent {spent_today} today; the first minute to +{digits} ({first_minute}) would pass its daily cap {policy.daily_spend_cap}",
            SOUND_REFUSED,
        )
    return None


def day_bounds(now: datetime, zone: ZoneInfo) -> tuple[int, int]:
    """[start, end) of the calendar day of `now` in the site's zone, epoch seconds."""
    local = now.astimezone(zone)
    start = datetime(local.year, local.month, local.day, tzinfo=zone)
    end = (start + timedelta(days=1, hours=2)).replace(hour=0)  # a DST day is not 24 h long
    return int(start.timestamp()), int(end.timestamp())
