"""8-800 calls priced by the caller's origin: every prefix of RULES.md's table.

The expected prices are computed here from the table as RULES.md prints it
(read from ../shared/docs/RULES.md, ranges expanded, longest match by a plain
scan), not copied from the engine's output.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from bizpbx.numbers.prefixes import expand
from bizpbx.rating import Rater, RatingOutcome, Rule
from bizpbx.settings import Site

from conftest import hotline

RULES = Path(__file__).resolve().parents[3] / "shared" / "docs" / "RULES.md"


def rules_table() -> list[tuple[str, list[str], Decimal]]:
    """(origin, prefixes, rate) rows of the 8-800 table in RULES.md."""
    text = RULES.read_text(encoding="utf-8")
    section = text.split("| origin | caller prefixes | RUB/min |", 1)[1]
    rows = []
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            break
        origin, prefixes, rate = (cell.strip() for cell in line.strip("|").split("|"))
        specs = [s.strip() for s in prefixes.split(",")]
        rows.append((origin, [p for spec in specs for p in expand(spec)], Decimal(rate)))
    return rows


def table_prefixes() -> dict[str, Decimal]:
    return {prefix: rate for _, prefixes, rate in rules_table() for prefix in prefixes}


def expected_rate(caller: str) -> tuple[str, Decimal]:
    table = table_prefixes()
    best = max((p for p in table if caller.startswith(p)), key=len)
    return best, table[best]


def caller_for(prefix: str) -> str:
    """An 11-digit Russian caller whose longest match in the table is
    `prefix` (a mobile number for "7")."""
    body = prefix if prefix != "7" else "79"
    candidates = ((body + digit * 11)[:11] for digit in "5071234689")
    return next(c for c in candidates if expected_rate(c)[0] == prefix)


def test_the_table_is_read_whole() -> None:
    rows = rules_table()
    assert len(rows) == 9
    assert rows[-1][1] == ["7"]
    # The Samara ranges overlap: both 784630 and 7846300 are listed.
    assert {"784630", "7846300", "7846304", "7846306", "7846309", "784634", "784636", "784639"} <= set(table_prefixes())
    assert "7846305" not in table_prefixes() and "784635" not in table_prefixes()


def test_site_defaults_are_the_rules_table(lab_site: Site) -> None:
    defaults = {
        prefix: origin.rate for origin in lab_site.tariffs.hotline_origins for spec in origin.prefixes for prefix in expand(spec)
    }
    assert defaults == table_prefixes()


@pytest.mark.parametrize("prefix", sorted(table_prefixes()))
def test_every_prefix_of_the_table(lab_site: Site, prefix: str) -> None:
    caller = caller_for(prefix)
    rate = expected_rate(caller)[1]
    rating = Rater(lab_site).rate(hotline(caller, 60))
    assert (rating.rule, rating.prefix, rating.cost, rating.billed_seconds, rating.payer) == (Rule.HOTLINE_ORIGIN, prefix, rate, 60, "34")


@pytest.mark.parametrize(
    ("caller", "lands_on"),
    [
        # 7846305 is in neither 7846300-4 nor 7846306-9: the shorter 784630 takes it.
        ("78463051234", "784630"),
        # 784635 is in neither 784630-4 nor 784636-9, and 78463 is not listed: "7".
        ("78463512345", "7"),
        ("78463412345", "784634"),
        ("78463091234", "7846309"),
        ("78314412345", "7"),  # 783144 is not in 783141-3 nor 783146
        ("78314312345", "783143"),
        ("79161234567", "7"),
    ],
)
def test_overlapping_and_neighbouring_prefixes(lab_site: Site, caller: str, lands_on: str) -> None:
    expected_prefix, rate = expected_rate(caller)
    assert expected_prefix == lands_on
    rating = Rater(lab_site).rate(hotline(caller, 61))
    assert (rating.prefix, rating.cost) == (lands_on, rate * 2)


@pytest.mark.parametrize("caller", ["+74951234567", "84951234567", "74951234567", "8 (495) 123-45-67"])
def test_caller_forms_agree(lab_site: Site, caller: str) -> None:
    rating = Rater(lab_site).rate(hotline(caller, 30))
    assert (rating.prefix, rating.cost) == ("7495", expected_rate("74951234567")[1])


@pytest.mark.parametrize("caller", ["+493012345678", "+77011234567", "+375291234567", "810493012345678"])
def test_callers_outside_russia_are_rejected_and_never_billed(lab_site: Site, caller: str) -> None:
    rating = Rater(lab_site).rate(hotline(caller, 300))
    assert rating.rule is Rule.HOTLINE_FOREIGN_CALLER
    assert rating.rejected and rating.outcome is RatingOutcome.REJECTED
    assert rating.cost == 0 and rating.billed_seconds == 0


def test_rejected_even_when_unanswered(lab_site: Site) -> None:
    assert Rater(lab_site).rate(hotline("+493012345678", 0)).rejected


@pytest.mark.parametrize("caller", ["", "anonymous", "12"])
def test_unknown_caller_is_unrated_not_free(lab_site: Site, caller: str) -> None:
    rating = Rater(lab_site).rate(hotline(caller, 60))
    assert rating.outcome is RatingOutcome.UNRATED


@pytest.mark.parametrize("caller", ["79161234567", "anonymous"])
def test_unanswered_hotline_call_is_free(lab_site: Site, caller: str) -> None:
    rating = Rater(lab_site).rate(hotline(caller, 0))
    assert (rating.rule, rating.cost) == (Rule.UNANSWERED, 0)


def test_a_site_table_without_a_catch_all_leaves_other_callers_unrated(site_overlay) -> None:
    site = site_overlay({"tariffs": {"hotline_origins": [{"origin": "Moscow", "prefixes": ["7495"], "rate": "2.00"}]}})
    rater = Rater(site)
    assert rater.rate(hotline("74951234567", 60)).cost == Decimal("2.00")
    rating = rater.rate(hotline("79161234567", 60))
    assert (rating.rule, rating.outcome) == (Rule.HOTLINE_NO_ORIGIN, RatingOutcome.UNRATED)


def test_hotline_uses_the_site_billing_increments(site_overlay) -> None:
    site = site_overlay({"tariffs": {"billing": {"initial": 1, "subsequent": 1}}})
    rating = Rater(site).rate(hotline("74951234567", 90))
    assert (rating.billed_seconds, rating.cost) == (90, expected_rate("74951234567")[1] * 90 / 60)


def test_the_number_kind_can_come_from_the_site(lab_site: Site) -> None:
    # A CDR without number_kind: the called number is the site's 8-800 number.
    call = hotline("79161234567", 60)
    call = type(call)(**{**{f: getattr(call, f) for f in call.__slots__}, "number_kind": None, "organization": ""})
    rating = Rater(lab_site).rate(call)
    assert (rating.rule, rating.payer) == (Rule.HOTLINE_ORIGIN, "34")
