"""Which rule prices a call: internal, incoming, outbound by the deck, unrated."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bizpbx.rating import CallRecord, Direction, Rater, RatingOutcome, Rule
from bizpbx.settings import NumberKind, Site

from conftest import ANSWERED, outbound


def test_internal_calls_are_free(lab_site: Site) -> None:
    call = CallRecord("i", "12", Direction.INTERNAL, "", None, "100", "101", ANSWERED, 3600)
    rating = Rater(lab_site).rate(call)
    assert (rating.rule, rating.outcome, rating.cost, rating.billed_seconds) == (Rule.INTERNAL, RatingOutcome.FREE, 0, 0)


@pytest.mark.parametrize(("number", "kind"), [("+74951234567", NumberKind.INDIVIDUAL), ("+74952121562", NumberKind.MAIN)])
def test_incoming_to_individual_and_main_numbers_is_free(lab_site: Site, number: str, kind: NumberKind) -> None:
    call = CallRecord("in", "12", Direction.INBOUND, number, kind, "+493012345678", number[1:], ANSWERED, 600)
    rating = Rater(lab_site).rate(call)
    assert (rating.rule, rating.cost, rating.rejected) == (Rule.INBOUND_FREE, 0, False)


@pytest.mark.parametrize(
    ("destination", "prefix"),
    [("+74951112233", "7495"), ("84991112233", "7499"), ("79161234567", "79"), ("+73832123456", "7"), ("+78005553535", "7800"), ("+4930123456", "49")],
)
def test_outbound_is_priced_by_the_longest_prefix_of_the_trunk_deck(lab_site: Site, destination: str, prefix: str) -> None:
    row = next(r for r in lab_site.trunks["carrier"].rate_deck.rows if r.prefix == prefix)
    rating = Rater(lab_site).rate(outbound(destination, 60))
    assert rating.rule is Rule.OUTBOUND_DECK and rating.prefix == prefix
    # 60 s is a whole number of steps for every increment of the demo deck (60/60, 30/6, 1/1).
    assert rating.billed_seconds == 60
    assert rating.cost == row.connect_fee + row.rate * rating.billed_seconds / 60
    assert rating.payer == "12"


def test_a_record_without_trunk_uses_the_organization_trunk(lab_site: Site) -> None:
    call = outbound("+74951112233", 60)
    call = CallRecord(**{**{f: getattr(call, f) for f in call.__slots__}, "trunk": ""})
    assert Rater(lab_site).rate(call).prefix == "7495"


def test_no_matching_prefix_is_unrated_not_free(lab_site: Site) -> None:
    rating = Rater(lab_site).rate(outbound("+12125551234", 60))
    assert (rating.rule, rating.outcome) == (Rule.NO_PREFIX, RatingOutcome.UNRATED)
    assert "12125551234" in rating.reason


def test_a_trunk_without_deck_leaves_calls_unrated(site_overlay) -> None:
    site = site_overlay({"trunks": {"carrier": {"rate_deck": None}}})
    rating = Rater(site).rate(outbound("+74951112233", 60))
    assert (rating.rule, rating.outcome) == (Rule.NO_DECK, RatingOutcome.UNRATED)


def test_a_destination_that_is_no_number_is_unrated(lab_site: Site) -> None:
    assert Rater(lab_site).rate(outbound("call-me", 60)).rule is Rule.NOT_A_NUMBER


@pytest.mark.parametrize("destination", ["+74951112233", "+12125551234"])
def test_unanswered_outbound_is_free_even_without_a_prefix(lab_site: Site, destination: str) -> None:
    rating = Rater(lab_site).rate(outbound(destination, 0))
    assert (rating.rule, rating.outcome, rating.cost) == (Rule.UNANSWERED, RatingOutcome.FREE, 0)


def test_answer_time_without_seconds_is_unanswered(lab_site: Site) -> None:
    call = CallRecord("o", "12", Direction.OUTBOUND, "+74951112233", None, "101", "", ANSWERED, 0, "", "carrier")
    assert Rater(lab_site).rate(call).rule is Rule.UNANSWERED


def test_a_transferred_clients_leg_is_billed_from_the_transfer_only(lab_site: Site) -> None:
    # The client (Moscow: 60/60 increments, 3 free seconds) talked 100 s with the employee, whose
    # leg billed them, then 80 s after a transfer: the client's leg, 180 s since its answer, bills 80 s.
    whole = outbound("+74951112233", 180)

    def billed_from(second: int | None) -> CallRecord:
        return CallRecord(**{**{f: getattr(whole, f) for f in whole.__slots__}, "end_epoch": ANSWERED + 180, "billed_from": second})

    rater = Rater(lab_site)
    assert rater.rate(billed_from(None)).billed_seconds == 180
    assert rater.rate(billed_from(ANSWERED + 100)).billed_seconds == 120  # 80 s: two started minutes, not three
    # Hung up within the deck's free seconds of the transfer: free, however long the client was on before.
    assert rater.rate(billed_from(ANSWERED + 178)).rule is Rule.FREE_SECONDS


def test_free_seconds_of_the_deck(lab_site: Site) -> None:
    # The demo deck gives Moscow 3 free seconds.
    rater = Rater(lab_site)
    assert rater.rate(outbound("+74951112233", 2)).rule is Rule.FREE_SECONDS
    assert rater.rate(outbound("+74951112233", 3)).cost == Decimal("1.20")


def test_a_zero_price_prefix_is_billed_at_zero_not_unrated(lab_site: Site) -> None:
    rating = Rater(lab_site).rate(outbound("88005553535", 60))
    assert (rating.rule, rating.outcome, rating.cost, rating.prefix) == (Rule.OUTBOUND_DECK, RatingOutcome.BILLED, 0, "7800")


def test_price_per_minute_for_the_toll_fraud_guard(lab_site: Site) -> None:
    rater = Rater(lab_site)
    assert rater.price_per_minute("34", "+4930123456").rate == Decimal("12.00")
    assert rater.price_per_minute("12", "8 916 123-45-67").prefix == "79"
    assert rater.price_per_minute("12", "+12125551234") is None


def test_overlapping_prefixes_in_a_deck_take_the_longest(site_overlay) -> None:
    deck = "prefix,rate\n7,1.00\n79,2.00\n7916,3.00\n791612,4.00\n"
    rater = Rater(site_overlay({}, deck=deck))
    prices = [rater.rate(outbound(n, 60)).cost for n in ("+74951234567", "+79031234567", "+79161111111", "+79161234567")]
    assert prices == [Decimal("1.00"), Decimal("2.00"), Decimal("3.00"), Decimal("4.00")]


def test_deck_ranges_are_expanded(site_overlay) -> None:
    rater = Rater(site_overlay({}, deck="prefix,rate\n7,1.00\n783141-3,5.00\n"))
    assert [rater.rate(outbound(f"+7831{n}123456", 60)).cost for n in (40, 41, 42, 43, 44)] == [
        Decimal("1.00"), Decimal("5.00"), Decimal("5.00"), Decimal("5.00"), Decimal("1.00")
    ]


destinations = st.sampled_from(["+74951112233", "+79161234567", "+375291234567", "+4930123456", "+78463051234", "+12125551234"])
durations = st.integers(min_value=0, max_value=20_000)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(destinations, durations, st.integers(min_value=1, max_value=3600))
def test_a_rated_call_never_costs_less_for_lasting_longer(lab_site: Site, destination: str, billsec: int, longer_by: int) -> None:
    rater = Rater(lab_site)
    shorter, longer = rater.rate(outbound(destination, billsec)), rater.rate(outbound(destination, billsec + longer_by))
    assert shorter.cost >= 0 and longer.cost >= 0
    if shorter.outcome is not RatingOutcome.UNRATED:
        assert shorter.cost <= longer.cost
    assert shorter.kopecks == shorter.cost * 100
