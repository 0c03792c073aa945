"""Rating one call: from its record to a cost, the rule that priced it and why.

The rules (RULES.md):

- calls between extensions (``internal``) are free;
- calls to the site's individual numbers and to the main number are free;
- a call to an 8-800 number is paid by the number's owner at the rate of the
  caller's origin (longest match of the caller's E.164 digits in
  ``tariffs.hotline_origins``, increments ``tariffs.billing``); a caller from
  outside Russia cannot reach an 8-800 number, so such a record is
  ``rejected`` and never billed;
- an outbound call is priced by the rate deck of its trunk (the record's, or
  the organization's trunk when the record names none);
- an unanswered call (no answer time or no billable second) is free.

A call that cannot be priced (no deck, no prefix of the deck matches, a
number that is not a number) is ``unrated``: it is reported and must not be
taken for a free call.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from bizpbx.rating.deck import Price, PrefixIndex, deck_index, hotline_index, roubles
from bizpbx.numbers.e164 import e164_digits, is_russian, region_of
from bizpbx.settings import NumberKind, Site


class Direction(StrEnum):
    INTERNAL = "internal"
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call as the switch saw it (the columns of `bizpbx.cdr.CDR_COLUMNS`).

    `answer_epoch` is 0 for a call never answered, as FreeSWITCH writes it.
    """

    uuid: str
    organization: str
    direction: Direction
    called_number: str
    number_kind: NumberKind | None
    caller: str
    callee: str
    answer_epoch: int
    billsec: int
    hangup_cause: str = ""
    trunk: str = ""
    start_epoch: int = 0  # when the call reached the switch (0 where unknown)
    end_epoch: int = 0  # when it ended (0 where unknown)
    # When a person (an employee, or the outside party) answered: the bridge, not the
    # switch answering for a menu or voicemail. 0: nobody did; None: a CDR older than
    # the column, where only answer_epoch is known.
    bridge_epoch: int | None = None
    answered_by: str = ""  # that person as a target: extension:101, number:+79161234567
    voicemail: str = ""  # the extension whose box the call ended in
    recording: str = ""  # the file the switch recorded the call into (it may have been never answered: no file)
    # A client's leg carrying on a transferred call: billed from this second (its first leg billed
    # it until then), not from its answer; None for any other call.
    billed_from: int | None = None

    @property
    def billable_seconds(self) -> int:
        """billsec, less what the call's first leg billed before a transfer."""
        if self.billed_from is None or not self.end_epoch:
            return self.billsec
        return max(0, min(self.billsec, self.end_epoch - self.billed_from))

    @property
    def answered_by_person(self) -> bool:
        return bool(self.answer_epoch if self.bridge_epoch is None else self.bridge_epoch)


class RatingOutcome(StrEnum):
    BILLED = "billed"  # priced by a tariff (the price may still be 0.00)
    FREE = "free"  # free by rule
    REJECTED = "rejected"  # could not legitimately happen: never billed
    UNRATED = "unrated"  # no tariff prices it: to be fixed, not free


class Rule(StrEnum):
    INTERNAL = "internal"
    INBOUND_FREE = "inbound-free"
    UNANSWERED = "unanswered"
    FREE_SECONDS = "free-seconds"
    HOTLINE_ORIGIN = "hotline-origin"
    HOTLINE_FOREIGN_CALLER = "hotline-foreign-caller"
    HOTLINE_UNKNOWN_CALLER = "hotline-unknown-caller"
    HOTLINE_NO_ORIGIN = "hotline-no-origin"
    OUTBOUND_DECK = "outbound-deck"
    NO_DECK = "no-deck"
    NO_PREFIX = "no-prefix"
    NOT_A_NUMBER = "not-a-number"


_OUTCOME = {
    Rule.INTERNAL: RatingOutcome.FREE,
    Rule.INBOUND_FREE: RatingOutcome.FREE,
    Rule.UNANSWERED: RatingOutcome.FREE,
    Rule.FREE_SECONDS: RatingOutcome.FREE,
    Rule.HOTLINE_ORIGIN: RatingOutcome.BILLED,
    Rule.OUTBOUND_DECK: RatingOutcome.BILLED,
    Rule.HOTLINE_FOREIGN_CALLER: RatingOutcome.REJECTED,
    Rule.HOTLINE_UNKNOWN_CALLER: RatingOutcome.UNRATED,
    Rule.HOTLINE_NO_ORIGIN: RatingOutcome.UNRATED,
    Rule.NO_DECK: RatingOutcome.UNRATED,
    Rule.NO_PREFIX: RatingOutcome.UNRATED,
    Rule.NOT_A_NUMBER: RatingOutcome.UNRATED,
}


class Rating(NamedTuple):
    """What a call costs and why (a named tuple: made a million times a
    second in the benchmark, where a frozen dataclass costs four times more).

    The price is kept in whole kopecks (exact, and cheap to make); `cost`
    gives it in roubles as a Decimal. `payer` is the organization charged
    (the caller's for outbound calls, the number's owner for 8-800 calls);
    `number` the E.164 digits that were looked up (destination or caller's
    origin); `price` the tariff row used.
    """

    rule: Rule
    kopecks: int = 0
    billed_seconds: int = 0
    payer: str = ""
    number: str | None = None
    price: Price | None = None
    detail: str = ""

    @property
    def cost(self) -> Decimal:
        """In roubles, two places."""
        return roubles(self.kopecks)

    @property
    def outcome(self) -> RatingOutcome:
        return _OUTCOME[self.rule]

    @property
    def rejected(self) -> bool:
        return self.outcome is RatingOutcome.REJECTED

    @property
    def prefix(self) -> str | None:
        return self.price.prefix if self.price else None

    @property
    def rate(self) -> Decimal | None:
        return self.price.rate if self.price else None

    @property
    def reason(self) -> str:
        """One sentence for a person: which rule, and with what."""
        price = self.price
        priced = (
            f" {price.description or 'prefix'} (prefix {price.prefix}): {price.rate} RUB/min, "
            f"increments {price.increments.initial}/{price.increments.subsequent}, "
            f"free under {price.increments.free_seconds} s, connect fee {price.connect_fee}"
            if price
            else ""
        )
        return {
            Rule.INTERNAL: "a call between extensions is free",
            Rule.INBOUND_FREE: "incoming calls to individual numbers and the main number are free",
            Rule.UNANSWERED: "an unanswered call is free",
            Rule.FREE_SECONDS: f"a call shorter than the free seconds of its tariff is free:{priced}",
            Rule.HOTLINE_ORIGIN: f"8-800 call paid by its owner at the rate of the caller's origin{priced}",
            Rule.HOTLINE_FOREIGN_CALLER: f"8-800 numbers cannot be reached from outside Russia (caller {self.number}, {self.detail}): rejected, never billed",
            Rule.HOTLINE_UNKNOWN_CALLER: f"8-800 call whose caller {self.detail!r} is not a phone number: the origin, hence the price, is unknown",
            Rule.HOTLINE_NO_ORIGIN: f"no origin of tariffs.hotline_origins matches the 8-800 caller {self.number}",
            Rule.OUTBOUND_DECK: f"outbound call priced by the deck of trunk {self.detail}{priced}",
            Rule.NO_DECK: f"outbound call through trunk {self.detail}, which has no rate deck",
            Rule.NO_PREFIX: f"no prefix of the deck of trunk {self.detail} matches {self.number}",
            Rule.NOT_A_NUMBER: f"the destination {self.detail!r} is not a phone number",
        }[self.rule]


class Rater:
    """Rates calls against one site's tariffs; build once, call `rate` often."""

    def __init__(self, site: Site):
        tariffs = site.tariffs
        self._decks: dict[str, PrefixIndex[Price]] = {
            name: deck_index(trunk.rate_deck) for name, trunk in site.trunks.items() if trunk.rate_deck is not None
        }
        self._hotline = hotline_index(tariffs.hotline_origins, tariffs.billing)
        self._numbers = {e164[1:]: number for e164, number in site.numbers.items()}
        self._trunk_of = {org_id: site.trunk_for(org)[0] for org_id, org in site.organizations.items()}
        self._default_trunk = next(iter(site.trunks))

    def rate(self, call: CallRecord) -> Rating:
        direction = call.direction
        if direction is _OUTBOUND:
            return self._outbound(call)
        if direction is _INTERNAL:
            return Rating(Rule.INTERNAL, payer=call.organization)
        return self._inbound(call)

    def price_per_minute(self, organization: str, destination: str) -> Price | None:
        """The deck row an outbound call from `organization` to `destination`
        would be priced by (for the toll-fraud guard), or None if none."""
        digits = e164_digits(destination)
        deck = self._decks.get(self._trunk_of.get(organization, self._default_trunk))
        if digits is None or deck is None:
            return None
        return deck.longest(digits)

    def _outbound(self, call: CallRecord) -> Rating:
        trunk = call.trunk or self._trunk_of.get(call.organization, self._default_trunk)
        payer = call.organization
        billsec = call.billable_seconds
        if not (call.answer_epoch and billsec > 0):
            return Rating(Rule.UNANSWERED, payer=payer)
        destination = call.called_number or call.callee
        digits = e164_digits(destination)
        if digits is None:
            return Rating(Rule.NOT_A_NUMBER, payer=payer, detail=destination)
        deck = self._decks.get(trunk)
        if deck is None:
            return Rating(Rule.NO_DECK, payer=payer, number=digits, detail=trunk)
        price = deck.longest(digits)
        if price is None:
            return Rating(Rule.NO_PREFIX, payer=payer, number=digits, detail=trunk)
        billed, kopecks = price.charge(billsec)
        if not billed:
            return Rating(Rule.FREE_SECONDS, 0, 0, payer, digits, price, trunk)
        return Rating(_OUTBOUND_DECK, kopecks, billed, payer, digits, price, trunk)

    def _inbound(self, call: CallRecord) -> Rating:
        called = e164_digits(call.called_number) if call.called_number else None
        number = self._numbers.get(called) if called else None
        kind = call.number_kind or (number.kind if number else None)
        payer = call.organization or (number.organization or "" if number else "")
        if kind is not NumberKind.HOTLINE:
            return Rating(Rule.INBOUND_FREE, payer=payer)
        caller = e164_digits(call.caller) if call.caller else None
        if caller is not None and not is_russian(caller):
            region = region_of(caller)
            return Rating(Rule.HOTLINE_FOREIGN_CALLER, payer=payer, number=caller, detail=f"country {region or 'unknown'}")
        if not (call.answer_epoch and call.billsec > 0):
            return Rating(Rule.UNANSWERED, payer=payer)
        if caller is None:
            return Rating(Rule.HOTLINE_UNKNOWN_CALLER, payer=payer, detail=call.caller)
        price = self._hotline.longest(caller)
        if price is None:
            return Rating(Rule.HOTLINE_NO_ORIGIN, payer=payer, number=caller)
        billed, kopecks = price.charge(call.billsec)
        if not billed:
            return Rating(Rule.FREE_SECONDS, 0, 0, payer, caller, price)
        return Rating(Rule.HOTLINE_ORIGIN, kopecks, billed, payer, caller, price)


# Looked up once: an enum member read through its class costs a call per rating.
_OUTBOUND, _INTERNAL, _OUTBOUND_DECK = Direction.OUTBOUND, Direction.INTERNAL, Rule.OUTBOUND_DECK
