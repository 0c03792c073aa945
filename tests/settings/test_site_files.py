"""The files a site names are read by the loader, never while the model validates:
the rate decks (the YAML's or the environment's path), and the default tariffs
shipped with the package."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from bizpbx.settings import SITE_DIR, Tariffs, Trunk
from bizpbx.settings import tariffs as tariffs_module
from bizpbx.site_loader import SiteError, load_site

TRUNK = {"proxy": "192.0.2.1", "auth": "ip", "source_addresses": ["192.0.2.1/32"]}


def test_the_model_reads_no_rate_deck(tmp_path: Path):
    (tmp_path / "rates.csv").write_text("prefix,rate\n7495,1.20\n", encoding="utf-8")
    token = SITE_DIR.set(tmp_path)
    try:
        with pytest.raises(ValidationError) as caught:
            Trunk(**TRUNK, rate_deck="rates.csv")
    finally:
        SITE_DIR.reset(token)
    (error,) = caught.value.errors()
    assert error["loc"] == ("rate_deck",)
    assert f"rate deck {tmp_path / 'rates.csv'} was not read" in error["msg"]


def test_a_deck_named_by_the_environment_is_read_by_the_loader(lab_site_copy: Path, monkeypatch: pytest.MonkeyPatch):
    other = lab_site_copy.parent / "other-rates.csv"
    other.write_text("prefix,rate\n7812,0.75\n", encoding="utf-8")
    monkeypatch.setenv("BIZPBX_TRUNKS__CARRIER__RATE_DECK", "other-rates.csv")
    deck = load_site(lab_site_copy).trunks["carrier"].rate_deck
    assert deck.path == other
    assert [(row.prefix, row.rate, row.line) for row in deck.rows] == [("7812", Decimal("0.75"), 2)]


def test_a_bad_deck_named_by_the_environment_is_reported_with_its_line(lab_site_copy: Path, monkeypatch: pytest.MonkeyPatch):
    other = lab_site_copy.parent / "other-rates.csv"
    other.write_text("prefix,rate\n7812,-1\n", encoding="utf-8")
    monkeypatch.setenv("BIZPBX_TRUNKS__CARRIER__RATE_DECK", str(other))
    with pytest.raises(SiteError) as caught:
        load_site(lab_site_copy)
    assert caught.value.problems == [("trunks.carrier.rate_deck", f"{other}:2: rate '-1' must be a non-negative number")]


def test_the_default_tariffs_are_the_shipped_data():
    shipped = yaml.safe_load((Path(tariffs_module.__file__).parent / "default_tariffs.yml").read_text(encoding="utf-8"))
    tariffs = Tariffs()
    assert {name: plan.model_dump(mode="json", exclude_unset=True) for name, plan in tariffs.plans.items()} == {
        name: {key: str(value) if key in ("monthly_fee", "call_credit") else value for key, value in plan.items()}
        for name, plan in shipped["plans"].items()
    }
    assert [(o.origin, o.prefixes, str(o.rate)) for o in tariffs.hotline_origins] == [
        (o["origin"], o["prefixes"], o["rate"]) for o in shipped["hotline_origins"]
    ]
    assert tariffs.individual_connection_fees == {code: Decimal(fee) for code, fee in shipped["individual_connection_fees"].items()}
    assert tariffs.hotline_connection_fee == Decimal(shipped["hotline_connection_fee"])
