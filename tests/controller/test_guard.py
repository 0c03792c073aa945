"""The toll-fraud guard's rules, on the demo site's policies and rate deck."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from bizpbx.controller.guard import check_outbound, day_bounds, first_minute_price
from bizpbx.rating import Rater
from bizpbx.settings import OutboundPolicy
from bizpbx.site_loader import load_site

DOMESTIC = OutboundPolicy(international=False, max_concurrent_calls=2, daily_spend_cap=Decimal("100.00"))


def price(lab_site_copy, number: str):
    return Rater(load_site(lab_site_copy)).price_per_minute("12", number)


def test_international_is_off_unless_allowed(lab_site_copy):
    germany = price(lab_site_copy, "+49301234567")
    refusal = check_outbound(DOMESTIC, "12", "+49301234567", calls_in_progress=0, spent_today=Decimal(0), price=germany)
    assert refusal is not None and refusal.rule == "international" and "country code 49" in refusal.reason
    # Kazakhstan shares +7 but is abroad.
    assert check_outbound(DOMESTIC, "12", "+77012345678", calls_in_progress=0, spent_today=Decimal(0), price=germany).rule == "international"
    allowed = DOMESTIC.model_copy(update={"allowed_countries": [49]})
    assert check_outbound(allowed, "12", "+49301234567", calls_in_progress=0, spent_today=Decimal(0), price=germany) is None
    everywhere = DOMESTIC.model_copy(update={"international": True})
    assert check_outbound(everywhere, "12", "+49301234567", calls_in_progress=0, spent_today=Decimal(0), price=germany) is None


def test_concurrent_outbound_calls_are_limited(lab_site_copy):
    mobile = price(lab_site_copy, "+79161234567")
    assert check_outbound(DOMESTIC, "12", "+79161234567", calls_in_progress=1, spent_today=Decimal(0), price=mobile) is None
    refusal = check_outbound(DOMESTIC, "12", "+79161234567", calls_in_progress=2, spent_today=Decimal(0), price=mobile)
    assert refusal.rule == "concurrent-calls" and "limit is 2" in refusal.reason


def test_the_spend_cap_counts_todays_spend_and_the_first_minute(lab_site_copy):
    mobile = price(lab_site_copy, "+79161234567")  # 2.90 a minute in the demo deck
    germany = price(lab_site_copy, "+49301234567")  # 12.00 a minute, 1/1 increments, 0.50 to connect
    assert first_minute_price(mobile) == Decimal("2.90")
    assert first_minute_price(germany) == Decimal("12.50")
    assert check_outbound(DOMESTIC, "12", "+79161234567", calls_in_progress=0, spent_today=Decimal("97.10"), price=mobile) is None
    refusal = check_outbound(DOMESTIC, "12", "+79161234567", calls_in_progress=0, spent_today=Decimal("97.11"), price=mobile)
    assert refusal.rule == "spend-cap" and "97.11" in refusal.reason


def test_a_destination_no_rate_prices_is_refused(lab_site_copy):
    refusal = check_outbound(DOMESTIC, "12", "+79161234567", calls_in_progress=0, spent_today=Decimal(0), price=None)
    assert refusal.rule == "unpriced"


def test_the_day_is_the_sites_calendar_day():
    moscow = ZoneInfo("Europe/Moscow")
    # 22:30 UTC on the 25th is already the 26th in Moscow.
    start, end = day_bounds(datetime(2026, 11, 25, 22, 30, tzinfo=timezone.utc), moscow)
    assert datetime.fromtimestamp(start, moscow) == datetime(2026, 11, 26, tzinfo=moscow)
    assert end - start == 86400
    berlin = ZoneInfo("Europe/Berlin")  # a day with a clock change is 25 hours long
    start, end = day_bounds(datetime(2026, 10, 25, 12, 0, tzinfo=berlin), berlin)
    assert end - start == 25 * 3600
