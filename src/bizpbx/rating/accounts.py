"""Monthly accounts: what an organization owes for one calendar month.

A month is a calendar month in the site's time zone (Europe/Moscow by
default): a call belongs to the month of its answer time there.

An account has, in this order:

- the monthly fee of the organization's telephony plan (profi, vip);
- for each of its numbers connected by the end of the month (or with no
  connection date): the number plan's monthly fee (prosto for individual
  numbers, standard for 8-800 ones, unless the number names another), in full
  from the month of connection (the source gives no proration);
- the one-time connection fee in the month of ``connected_on``: by area code
  for an individual number, the 8-800 fee for a hotline number;
- the calls: the sum of the costs of the calls the organization pays for
  (its outbound calls and the 8-800 calls to its numbers);
- the call credit used, as a negative line.

Call credit: each plan the organization holds that month adds its
``call_credit`` (the prosto plan's 200 RUB per individual number; profi and
vip have none by default) to one credit for the organization and month. It
is spent on the organization's billable calls in order of answer time, each
call taking what it can, before any money is charged; whatever is left at
the end of the month expires. The total is the sum of the lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from bizpbx.rating.deck import ZERO, to_kopecks
from bizpbx.rating.rate import RatingOutcome
from bizpbx.settings import Number, NumberKind, Site, Tariffs

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.match(text.strip())
        if match is None or not 1 <= int(match[2]) <= 12:
            raise ValueError(f"{text!r} is not a month such as 2026-11")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def bounds(self, zone: ZoneInfo) -> tuple[int, int]:
        """[since, until) of the month in epoch seconds."""
        return _epoch(self, zone), _epoch(self.next(), zone)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def _epoch(month: Month, zone: ZoneInfo) -> int:
    return int(datetime(month.year, month.month, 1, tzinfo=zone).timestamp())


class ChargeableCall(Protocol):
    """What an account needs of a stored call (`bizpbx.ledger.StoredCall`)."""

    @property
    def uuid(self) -> str: ...
    @property
    def answer_epoch(self) -> int: ...
    @property
    def outcome(self) -> str: ...
    @property
    def cost(self) -> Decimal: ...


@dataclass(frozen=True)
class Line:
    kind: str  # plan, number-plan, connection, calls, credit
    description: str
    amount: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", to_kopecks(self.amount))


@dataclass(frozen=True)
class CallCharge:
    uuid: str
    answer_epoch: int
    cost: Decimal
    credit_used: Decimal

    @property
    def charged(self) -> Decimal:
        return self.cost - self.credit_used


@dataclass(frozen=True)
class Account:
    organization: str
    month: Month
    lines: tuple[Line, ...]
    credit: Decimal
    calls: tuple[CallCharge, ...]
    unrated_calls: int

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def credit_used(self) -> Decimal:
        return sum((call.credit_used for call in self.calls), ZERO)

    @property
    def credit_expired(self) -> Decimal:
        return self.credit - self.credit_used


def monthly_account(site: Site, org_id: str, month: Month, calls: Iterable[ChargeableCall]) -> Account:
    """The account of `org_id` for `month`, from the calls it pays for.

    `calls` may hold calls of other months: only those answered within the
    month (in the site's time zone) are counted.
    """
    tariffs = site.tariffs
    org = site.organizations[org_id]
    lines: list[Line] = []
    credit = ZERO
    if org.plan is not None:
        plan = tariffs.plans[org.plan]
        lines.append(Line("plan", f"plan «{plan.title}», monthly fee", plan.monthly_fee))
        credit += plan.call_credit
    for e164, number in sorted(site.numbers_of(org_id).items()):
        connected = Month.of(number.connected_on) if number.connected_on else None
        if connected is not None and connected > month:
            continue
        plan = tariffs.plans[_plan_name(number, tariffs)]
        if connected == month:
            lines.append(Line("connection", f"{e164} connection, one-time", _connection_fee(e164, number, tariffs)))
        lines.append(Line("number-plan", f"{e164} plan «{plan.title}», monthly fee", plan.monthly_fee))
        credit += plan.call_credit

    since, until = month.bounds(site.zone)
    in_month = sorted((c for c in calls if since <= c.answer_epoch < until), key=lambda c: (c.answer_epoch, c.uuid))
    charges: list[CallCharge] = []
    left = credit
    for call in in_month:
        if call.outcome == RatingOutcome.BILLED and call.cost > 0:
            used = min(left, call.cost)
            left -= used
            charges.append(CallCharge(call.uuid, call.answer_epoch, call.cost, used))
    call_cost = sum((c.cost for c in charges), ZERO)
    if charges:
        lines.append(Line("calls", f"calls: {len(charges)} billed", call_cost))
    used = credit - left
    if used:
        lines.append(Line("credit", f"call credit used, of {credit} for the month", -used))
    unrated = sum(1 for c in in_month if c.outcome == RatingOutcome.UNRATED)
    return Account(org_id, month, tuple(lines), credit, tuple(charges), unrated)


def _plan_name(number: Number, tariffs: Tariffs) -> str:
    if number.plan is not None:
        return number.plan
    return tariffs.individual_plan if number.kind is NumberKind.INDIVIDUAL else tariffs.hotline_plan


def _connection_fee(e164: str, number: Number, tariffs: Tariffs) -> Decimal:
    if number.kind is NumberKind.HOTLINE:
        return tariffs.hotline_connection_fee
    # The site rules make sure every individual number's area code has a fee.
    return tariffs.individual_connection_fees[e164[2:5]]
