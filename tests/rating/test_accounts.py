"""Monthly accounts: fees, connection fees, call credit across month ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bizpbx.rating.accounts import Month, monthly_account
from bizpbx.settings import Site

MOSCOW = ZoneInfo("Europe/Moscow")
NOVEMBER, DECEMBER = Month(2026, 11), Month(2026, 12)


@dataclass(frozen=True)
class Call:
    uuid: str
    answer_epoch: int
    cost: Decimal
    outcome: str = "billed"


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def fees(site: Site, org_id: str, month: Month) -> dict[str, Decimal]:
    return {line.description: line.amount for line in monthly_account(site, org_id, month, []).lines}


def test_month_bounds_are_moscow_midnights() -> None:
    since, until = NOVEMBER.bounds(MOSCOW)
    assert datetime.fromtimestamp(since, UTC) == datetime(2026, 10, 31, 21, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(until, UTC) == datetime(2026, 11, 30, 21, 0, tzinfo=UTC)
    assert Month(2026, 12).next() == Month(2027, 1)


def test_credit_is_spent_in_answer_order_and_expires_at_the_moscow_month_end(lab_site: Site) -> None:
    # 23:30 Moscow on 30 November is 20:30 UTC the same day: November.
    last_evening = epoch("2026-11-30T20:30:00+00:00")
    # 00:30 Moscow on 1 December is 21:30 UTC on 30 November: December.
    first_night = epoch("2026-11-30T21:30:00+00:00")
    assert datetime.fromtimestamp(last_evening, MOSCOW).isoformat() == "2026-11-30T23:30:00+03:00"
    assert datetime.fromtimestamp(first_night, MOSCOW).isoformat() == "2026-12-01T00:30:00+03:00"
    morning = epoch("2026-11-30T10:00:00+03:00")
    calls = [
        Call("late", last_evening, Decimal("150.00")),
        Call("night", first_night, Decimal("120.00")),
        Call("morning", morning, Decimal("80.00")),
    ]
    credit = lab_site.tariffs.plans["prosto"].call_credit  # organization 12 has one individual number

    november = monthly_account(lab_site, "12", NOVEMBER, calls)
    assert [(c.uuid, c.credit_used, c.charged) for c in november.calls] == [
        ("morning", Decimal("80.00"), Decimal("0.00")),
        ("late", credit - Decimal("80.00"), Decimal("150.00") - (credit - Decimal("80.00"))),
    ]
    assert (november.credit, november.credit_used, november.credit_expired) == (credit, credit, 0)

    december = monthly_account(lab_site, "12", DECEMBER, calls)
    assert [(c.uuid, c.credit_used) for c in december.calls] == [("night", Decimal("120.00"))]
    assert december.credit_expired == credit - Decimal("120.00")
    calls_line = {line.kind: line.amount for line in december.lines}
    assert (calls_line["calls"], calls_line["credit"]) == (Decimal("120.00"), Decimal("-120.00"))


def test_fees_in_the_month_of_connection_and_after(lab_site: Site) -> None:
    plans, tariffs = lab_site.tariffs.plans, lab_site.tariffs
    # Organization 12: profi; +74951234567 connected 2026-11-03 on the prosto plan.
    assert fees(lab_site, "12", Month(2026, 10)) == {"plan «Профи», monthly fee": plans["profi"].monthly_fee}
    assert fees(lab_site, "12", NOVEMBER) == {
        "plan «Профи», monthly fee": plans["profi"].monthly_fee,
        "+74951234567 connection, one-time": tariffs.individual_connection_fees["495"],
        "+74951234567 plan «Просто», monthly fee": plans["prosto"].monthly_fee,
    }
    assert sum(fees(lab_site, "12", DECEMBER).values()) == plans["profi"].monthly_fee + plans["prosto"].monthly_fee
    # Organization 34: vip; the 8-800 number connected 2026-10-15.
    october = fees(lab_site, "34", Month(2026, 10))
    assert october["+78005553535 connection, one-time"] == tariffs.hotline_connection_fee
    assert monthly_account(lab_site, "34", Month(2026, 10), []).total == Decimal("2950") + Decimal("1500") + Decimal("2990")
    assert monthly_account(lab_site, "34", NOVEMBER, []).credit == 0
    # Organization 7 has no plan and no number.
    assert monthly_account(lab_site, "7", NOVEMBER, []).lines == ()


def test_connection_fee_by_area_code(site_overlay) -> None:
    site = site_overlay(
        {
            "trunks": {"carrier": {"numbers": ["+74952121562", "+74951234567", "+78005553535", "+78121234567"]}},
            "numbers": {"+78121234567": {"kind": "individual", "organization": "7", "connected_on": "2026-11-20"}},
            # Only an organization with a telephony plan may own a number (one without could never answer it).
            "organizations": {"7": {"plan": "profi"}},
        }
    )
    account = monthly_account(site, "7", NOVEMBER, [])
    assert {line.kind: line.amount for line in account.lines} == {
        "plan": Decimal("1990"),
        "connection": Decimal("1000"),
        "number-plan": Decimal("1000"),
    }
    assert account.credit == Decimal("200")


def test_unrated_and_free_calls_take_no_credit(lab_site: Site) -> None:
    at = epoch("2026-11-10T12:00:00+03:00")
    account = monthly_account(
        lab_site, "12", NOVEMBER, [Call("u", at, Decimal("0.00"), "unrated"), Call("f", at, Decimal("0.00"), "free"), Call("r", at, Decimal("0.00"), "rejected")]
    )
    assert (account.unrated_calls, account.calls, account.credit_used) == (1, (), 0)


costs = st.decimals(min_value=0, max_value=500, places=2)
november_or_near = st.integers(min_value=epoch("2026-10-25T00:00:00+00:00"), max_value=epoch("2026-12-05T00:00:00+00:00"))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(st.lists(st.tuples(november_or_near, costs), max_size=40), st.sampled_from(["12", "34", "7"]))
def test_lines_sum_to_the_total_and_credit_goes_first(lab_site: Site, drawn: list[tuple[int, Decimal]], org_id: str) -> None:
    calls = [Call(f"c{n}", at, cost) for n, (at, cost) in enumerate(drawn)]
    account = monthly_account(lab_site, org_id, NOVEMBER, calls)
    since, until = NOVEMBER.bounds(MOSCOW)
    in_month = sorted((c for c in calls if since <= c.answer_epoch < until), key=lambda c: (c.answer_epoch, c.uuid))
    call_cost = sum((c.cost for c in in_month), Decimal(0))
    fixed = sum((line.amount for line in account.lines if line.kind in ("plan", "number-plan", "connection")), Decimal(0))

    assert sum(line.amount for line in account.lines) == account.total
    assert account.total == fixed + max(Decimal(0), call_cost - account.credit)
    assert account.credit_used == min(account.credit, call_cost)
    assert account.total >= fixed
    # Credit is spent in answer order: once a call pays money, every later one does it in full.
    charged = [c for c in account.calls if c.charged > 0]
    if charged:
        first = account.calls.index(charged[0])
        assert all(c.credit_used == 0 for c in account.calls[first + 1 :])
        assert all(c.charged == 0 for c in account.calls[:first])
    assert [c.uuid for c in account.calls] == [c.uuid for c in in_month if c.cost > 0]
