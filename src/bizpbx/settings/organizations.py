"""The site's numbers and its organizations: employees, forwarding,
voicemail, ring groups, IVR menus, incoming rules by business hours, and the
outbound toll-fraud guard."""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, field_validator, model_validator

from bizpbx.settings.fields import E164, Digits, Extension, Model, Money, Name, Secret, SoundPath
from bizpbx.settings.recordings import RecordingPolicy
from bizpbx.settings.targets import CallTarget, Target, TargetKind

class NumberKind(StrEnum):
    INDIVIDUAL = "individual"
    HOTLINE = "hotline"
    MAIN = "main"


class Number(Model):
    kind: NumberKind
    organization: Digits | None = Field(None, description="owning organization's ID (none for the main number)")
    plan: Name | None = Field(None, description="tariff plan; defaults to the plan for the kind (prosto, standard)")
    connected_on: date | None = Field(None, description="connection date: the one-time fee falls in its month")

    @model_validator(mode="after")
    def _owner_matches_kind(self) -> Number:
        if self.kind is NumberKind.MAIN and self.organization is not None:
            raise ValueError("the main number is shared and belongs to no organization")
        if self.kind is not NumberKind.MAIN and self.organization is None:
            raise ValueError(f"a {self.kind} number needs its owning organization")
        return self


class NoAnswer(Model):
    after_seconds: int = Field(20, ge=5, le=300)
    to: CallTarget


class Forwarding(Model):
    unconditional: CallTarget | None = None
    busy: CallTarget | None = None
    no_answer: NoAnswer | None = None
    unavailable: CallTarget | None = Field(None, description="when the phone is not registered")


def _digits_pin(pin: SecretStr) -> SecretStr:
    if not re.fullmatch(r"[0-9]{4,10}", pin.get_secret_value()):
        raise ValueError("a voicemail PIN is 4 to 10 digits")
    return pin


class VoicemailSettings(Model):
    enabled: bool = False
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    pin: Annotated[SecretStr, AfterValidator(_digits_pin)] | None = Field(None, description="generated when absent")


class Employee(Model):
    name: str = Field(min_length=1, max_length=80)
    password: Secret(12) | None = Field(None, description="SIP password; generated and stored when absent")
    forwarding: Forwarding = Forwarding()
    voicemail: VoicemailSettings = VoicemailSettings()
    record_calls: bool | None = Field(
        None, description="overrides the organization's recording for the calls this employee places and those its numbers send straight to them"
    )
    do_not_disturb: bool = Field(False, description="the phone is not rung: calls to it are treated as busy (its busy forwarding applies)")


class RingGroup(Model):
    extension: Extension | None = Field(None, description="dialable inside the organization")
    strategy: Literal["simultaneous", "sequential"] = "simultaneous"
    members: list[Extension] = Field(min_length=1)
    ring_seconds: int = Field(20, ge=5, le=300, description="simultaneous: for the whole group; sequential: per member")
    fallback: CallTarget | None = Field(None, description="when nobody answers; hang up if unset")


class IvrMenuSettings(Model):
    greeting: SoundPath = Field(description="sound file, relative to the sounds directory")
    options: dict[Annotated[str, Field(pattern=r"^[0-9*#]$")], CallTarget] = Field(min_length=1)
    timeout_seconds: int = Field(5, ge=1, le=60)
    max_failures: int = Field(3, ge=1, le=10)
    invalid_sound: SoundPath = "ivr/ivr-that_was_an_invalid_entry.wav"
    fallback: CallTarget = Field(
        default_factory=lambda: Target(TargetKind.HANGUP), description="after max_failures invalid or missing entries"
    )

    @field_validator("options", mode="before")
    @classmethod
    def _digit_keys_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted 1: as the integer 1.
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


class Day(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS = tuple(Day)


class BusinessHours(Model):
    days: list[Day] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    open: time = time(9, 0)
    close: time = time(18, 0)
    closed_dates: list[date] = Field(default_factory=list, description="holidays")

    @model_validator(mode="after")
    def _opens_before_closing(self) -> BusinessHours:
        if self.open >= self.close:
            raise ValueError(f"opens at {self.open} but closes at {self.close}")
        return self


class IncomingRule(Model):
    number: Literal["main"] | E164 = Field(description="one of the organization's numbers, or main for calls via the main number")
    target: CallTarget
    hours: BusinessHours | None = None
    after_hours: CallTarget | None = None

    @model_validator(mode="after")
    def _hours_need_after_hours(self) -> IncomingRule:
        if self.hours is not None and self.after_hours is None:
            raise ValueError("hours are set, so after_hours must say where calls go outside them")
        if self.hours is None and self.after_hours is not None:
            raise ValueError("after_hours is set but there are no hours")
        return self


class OutboundPolicy(Model):
    """The toll-fraud guard applied before any outbound leg."""

    international: bool = Field(False, description="allow destinations outside Russia")
    allowed_countries: list[Annotated[int, Field(ge=1, le=999)]] = Field(
        default_factory=list, description="country calling codes allowed when international is false"
    )
    max_concurrent_calls: int = Field(4, ge=1)
    daily_spend_cap: Money = Field(Decimal("1000"), description="roubles per Moscow calendar day")


def _blocked_caller(value: Any) -> str:
    text = str(value).strip() if isinstance(value, (str, int)) else value
    if not isinstance(text, str) or not re.fullmatch(r"\+[1-9][0-9]{0,14}\*?", text) or (not text.endswith("*") and len(text) < 8):
        raise ValueError(f"{value!r} is neither an E.164 number (+74951234567) nor a prefix ending in * (+7495*)")
    return text


# A caller's number refused by an organization: an E.164 number, or a prefix ending in `*`.
BlockedCaller = Annotated[str, BeforeValidator(_blocked_caller)]


class Organization(Model):
    name: str = Field(min_length=1, max_length=200)
    plan: Literal["profi", "vip"] | None = Field(None, description="telephony plan; without one only internal calls")
    owner: Extension = Field(description="extension that takes calls when there are no incoming rules")
    employees: dict[Extension, Employee] = Field(min_length=1)
    ring_groups: dict[Name, RingGroup] = Field(default_factory=dict)
    ivr_menus: dict[Name, IvrMenuSettings] = Field(default_factory=dict)
    incoming: list[IncomingRule] = Field(default_factory=list)
    caller_id: E164 | None = Field(None, description="presented on outbound calls; one of its numbers or the main number")
    trunk: Name | None = Field(None, description="trunk for outbound calls; the only trunk when unset")
    outbound: OutboundPolicy = OutboundPolicy()
    recording: RecordingPolicy = RecordingPolicy()
    hold_music: SoundPath | None = Field(None, description="sound file its callers hear on hold; freeswitch.hold_music when unset")
    blocklist: list[BlockedCaller] = Field(default_factory=list, description="callers refused before answer (CALL_REJECTED): E.164 numbers, or prefixes ending in *")

    @property
    def has_telephony(self) -> bool:
        return self.plan is not None
