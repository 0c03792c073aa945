"""Tariffs (RULES.md): call rounding, monthly plans, connection fees and the
8-800 prices by the caller's origin.

The hosted service's own tariffs, a site's defaults, are data of their own
(``default_tariffs.yml`` beside this module), read once on import.
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from bizpbx.numbers.prefixes import PrefixSpecError, expand
from bizpbx.numbers.prefixes import size as prefix_count
from bizpbx.settings.fields import Model, Money, Name


class Increments(Model):
    """How a call's length is rounded before pricing (60/60: per started minute)."""

    initial: int = Field(60, ge=1, description="seconds billed for the first step")
    subsequent: int = Field(60, ge=1, description="seconds per further step")
    free_seconds: int = Field(0, ge=0, description="calls shorter than this cost nothing")


class TariffPlan(Model):
    """A monthly plan of the hosted service (not a routing plan: `bizpbx.routing.Plan`)."""

    title: str
    monthly_fee: Money
    call_credit: Money = Decimal(0)
    applies_to: Literal["individual", "hotline", "organization"]


# 8-800 prices go by the caller's region: a few hundred prefixes.
MAX_HOTLINE_PREFIXES = 100_000


class HotlineOrigin(Model):
    origin: str
    prefixes: list[str] = Field(min_length=1, description="caller prefixes, E.164 without +, range notation allowed")
    rate: Money

    @field_validator("prefixes")
    @classmethod
    def _readable(cls, prefixes: list[str]) -> list[str]:
        total = 0
        for spec in prefixes:
            try:
                total += prefix_count(spec)
            except PrefixSpecError as error:
                raise ValueError(str(error)) from None
            if total > MAX_HOTLINE_PREFIXES:
                raise ValueError(f"the prefixes stand for more than {MAX_HOTLINE_PREFIXES} prefixes")
        return prefixes


def _read_defaults() -> dict[str, Any]:
    return yaml.safe_load(resources.files(__package__).joinpath("default_tariffs.yml").read_text(encoding="utf-8"))


_DEFAULTS = _read_defaults()
DEFAULT_CONNECTION_FEES: dict[str, Decimal] = {str(code): Decimal(fee) for code, fee in _DEFAULTS["individual_connection_fees"].items()}
DEFAULT_HOTLINE_CONNECTION_FEE = Decimal(_DEFAULTS["hotline_connection_fee"])
DEFAULT_PLANS: dict[str, TariffPlan] = {name: TariffPlan(**plan) for name, plan in _DEFAULTS["plans"].items()}
DEFAULT_HOTLINE_ORIGINS: tuple[HotlineOrigin, ...] = tuple(HotlineOrigin(**origin) for origin in _DEFAULTS["hotline_origins"])


class Tariffs(Model):
    currency: Literal["RUB"] = "RUB"
    billing: Increments = Increments()
    individual_connection_fees: dict[Annotated[str, Field(pattern=r"^[0-9]{3}$")], Money] = Field(
        default_factory=lambda: dict(DEFAULT_CONNECTION_FEES), description="one-time fee by area code"
    )
    hotline_connection_fee: Money = DEFAULT_HOTLINE_CONNECTION_FEE
    plans: dict[Name, TariffPlan] = Field(default_factory=lambda: dict(DEFAULT_PLANS))
    individual_plan: Name = "prosto"
    hotline_plan: Name = "standard"
    hotline_origins: list[HotlineOrigin] = Field(default_factory=lambda: list(DEFAULT_HOTLINE_ORIGINS))

    @model_validator(mode="after")
    def _named_plans_exist(self) -> Tariffs:
        for field, applies_to in (("individual_plan", "individual"), ("hotline_plan", "hotline")):
            name = getattr(self, field)
            plan = self.plans.get(name)
            if plan is None or plan.applies_to != applies_to:
                raise ValueError(f"{field} {name!r} must name a plan in plans that applies_to {applies_to}")
        for name in ("profi", "vip"):
            if name not in self.plans or self.plans[name].applies_to != "organization":
                raise ValueError(f"plans.{name} must exist and apply to organization")
        if sum(prefix_count(spec) for origin in self.hotline_origins for spec in origin.prefixes) > MAX_HOTLINE_PREFIXES:
            raise ValueError(f"hotline_origins: the prefixes stand for more than {MAX_HOTLINE_PREFIXES} prefixes")
        priced_by: dict[str, str] = {}
        for origin in self.hotline_origins:
            for prefix in (p for spec in origin.prefixes for p in expand(spec)):
                if prefix in priced_by:
                    raise ValueError(f"hotline_origins: prefix {prefix} is priced by both {priced_by[prefix]!r} and {origin.origin!r}")
                priced_by[prefix] = origin.origin
        return self
