"""What the controller does with a call: a plan of frozen steps.

A plan is an ordered tuple of steps that a small interpreter runs from the
first. Most steps are followed by the next one. A bridge names, for each way
it can fail (busy, no answer, unavailable), the index of the step to run
next; those indices always point further down the plan, so no plan can loop.
When a bridge is answered the call is over for the plan (the switch hangs up
after the bridge).

Two steps wait for the caller and end their plan: `Collect` (the
organization ID after the main number) and `Menu` (an IVR menu). What follows
them is planned once the digits are known (`route_after_digits`,
`route_menu_choice`), so nested or cyclic menus are never expanded ahead of
the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from bizpbx.routing.nodes import Recording
from bizpbx.settings import Target


class Outcome(StrEnum):
    """How a bridge ended without being answered."""

    BUSY = "busy"
    NO_ANSWER = "no_answer"
    UNAVAILABLE = "unavailable"


class Source(StrEnum):
    """Where a call comes from: the trunk (public context) or a phone of an organization."""

    TRUNK = "trunk"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class Call:
    """What routing needs to know about a call.

    `caller` and `destination` are as the switch saw them (an extension, a
    national or E.164 number). `org_id` is the caller's organization for a
    call from a phone.
    """

    source: Source
    caller: str
    destination: str
    org_id: str | None = None
    uuid: str = ""
    user: str | None = None  # the directory user (12-101) of the phone that placed it

    def __post_init__(self) -> None:
        if self.source is Source.PHONE and not self.org_id:
            raise ValueError("a call from a phone needs the caller's organization")


@dataclass(frozen=True, slots=True)
class Leg:
    """One phone or one external number that a bridge rings."""

    org_id: str
    extension: str | None = None
    number: str | None = None  # E.164, out through `trunk`
    trunk: str | None = None
    caller_id: str | None = None  # presented on a trunk leg

    @property
    def external(self) -> bool:
        return self.number is not None

    def __str__(self) -> str:
        return f"number:{self.number} via trunk {self.trunk}" if self.external else f"extension:{self.extension}"


@dataclass(frozen=True, slots=True)
class Answer:
    action: ClassVar[str] = "answer"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Collect:
    """Ask for the organization ID and wait for it (the main number)."""

    action: ClassVar[str] = "collect"
    prompt: str
    invalid_prompt: str
    max_attempts: int
    timeout_seconds: int
    valid: tuple[str, ...]  # the IDs a caller may enter
    reason: str = ""

    @property
    def min_digits(self) -> int:
        return min((len(v) for v in self.valid), default=1)

    @property
    def max_digits(self) -> int:
        return max((len(v) for v in self.valid), default=1)


@dataclass(frozen=True, slots=True)
class Menu:
    """An IVR menu: play the greeting, wait for one digit."""

    action: ClassVar[str] = "menu"
    org_id: str
    name: str
    greeting: str
    options: tuple[tuple[str, Target], ...]
    timeout_seconds: int
    max_failures: int
    invalid_sound: str
    fallback: Target
    # The looping nodes of the route graph reached since the caller's last
    # input; the fallback continues this count (it needs no input), a chosen
    # option starts afresh.
    path: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Bridge:
    """Ring one or more legs together; on failure go to the step for the outcome.

    `action` is ``forward`` when an employee's forwarding led here, else
    ``bridge``. A leg out through the trunk (`Leg.external`) passes the
    toll-fraud guard first.
    """

    target: Target
    legs: tuple[Leg, ...]
    ring_seconds: int | None  # the controller's own deadline; None: until the caller gives up
    on_busy: int
    on_no_answer: int
    on_unavailable: int
    check_registration: bool = False  # a single phone: ask the switch before ringing
    forwarded_from: str | None = None  # the extension whose forwarding led here
    reason: str = ""

    @property
    def action(self) -> str:
        return "forward" if self.forwarded_from else "bridge"

    def next_step(self, outcome: Outcome) -> int:
        return {Outcome.BUSY: self.on_busy, Outcome.NO_ANSWER: self.on_no_answer, Outcome.UNAVAILABLE: self.on_unavailable}[outcome]


@dataclass(frozen=True, slots=True)
class Voicemail:
    action: ClassVar[str] = "voicemail"
    org_id: str
    extension: str
    reason: str = ""
    forwarded_from: str | None = None  # the extension whose forwarding (or failure) led here


@dataclass(frozen=True, slots=True)
class Play:
    """A message to the caller (why a call cannot go on); a Hangup follows."""

    action: ClassVar[str] = "play"
    sound: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Pickup:
    """A phone takes the call ringing another phone of its organization. The
    switch does it (the dialplan's `intercept` after the controller hands the
    call back): which call rings is the switch's own state."""

    action: ClassVar[str] = "pickup"
    org_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Hangup:
    action: ClassVar[str] = "hangup"
    cause: str = "NORMAL_CLEARING"
    reason: str = ""


Step = Answer | Collect | Menu | Bridge | Voicemail | Play | Pickup | Hangup


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]
    org_id: str | None = None  # the organization the call belongs to, once known
    direction: str = "internal"  # the CDR's bizpbx_direction: internal, inbound, outbound
    # Decided where the call enters the site (a number, the main number's
    # organization ID, a phone); None where that decision is not this plan's.
    recording: Recording | None = None
