"""The demo site, variants of it, and call records for rating tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bizpbx.rating import CallRecord, Direction
from bizpbx.settings import NumberKind, Site
from bizpbx.site_loader import deep_merge, load_site, read_yaml

# 2026-11-25 10:00 Moscow: an ordinary answered call's time.
ANSWERED = 1795590000


@pytest.fixture
def lab_site(lab_site_copy: Path) -> Site:
    return load_site(lab_site_copy)


@pytest.fixture
def site_overlay(lab_site_copy: Path) -> Callable[..., Site]:
    """The demo site with `overlay` merged into its YAML (and `deck` as its
    rates.csv when given)."""

    def build(overlay: dict[str, Any], deck: str | None = None) -> Site:
        if deck is not None:
            lab_site_copy.with_name("rates.csv").write_text(deck, encoding="utf-8")
        variant = lab_site_copy.with_name("variant.yml")
        variant.write_text(yaml.safe_dump(deep_merge(read_yaml(lab_site_copy), overlay), allow_unicode=True), encoding="utf-8")
        return load_site(variant)

    return build


def outbound(to: str, billsec: int, *, org: str = "12", uuid: str = "out", answer_epoch: int = ANSWERED) -> CallRecord:
    return CallRecord(uuid, org, Direction.OUTBOUND, to, None, "101", to, answer_epoch if billsec else 0, billsec, "NORMAL_CLEARING", "carrier")


def hotline(caller: str, billsec: int, *, uuid: str = "in", answer_epoch: int = ANSWERED) -> CallRecord:
    return CallRecord(
        uuid, "34", Direction.INBOUND, "+78005553535", NumberKind.HOTLINE, caller, "88005553535", answer_epoch if billsec else 0, billsec, "NORMAL_CLEARING", "carrier"
    )
