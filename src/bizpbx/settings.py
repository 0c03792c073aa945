"""The site model: the single description of a bizpbx site.

Everything reads it: the CLI, the FreeSWITCH renderer, the Ansible roles
(through `bizpbx validate` and `bizpbx show`) and the controller. A site is a
YAML file; every value can be overridden from the environment (prefix
``BIZPBX_``, ``__`` between levels, e.g. ``BIZPBX_ESL__PASSWORD`` or
``BIZPBX_TRUNKS__CARRIER__PASSWORD``). Collections are mappings keyed by
identity (trunk name, organization ID, extension, menu name) so that an
override or an error names the thing itself, not a list index.

Structural checks live on the models; rules that span several parts of a site
live in `bizpbx.site_rules`, and loading from files in `bizpbx.site_loader`.
"""

from __future__ import annotations

import csv
import ipaddress
import os
import re
import stat
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bizpbx.prefixes import PrefixSpecError, expand
from bizpbx.prefixes import size as prefix_count

# Relative paths in a site (rate decks, the ledger) are relative to the site file.
SITE_DIR: ContextVar[Path] = ContextVar("SITE_DIR", default=Path("."))

WELL_KNOWN_PASSWORDS = frozenset({"cluecon", "1234", "12345", "123456", "password", "secret", "admin"})


def _refuse_well_known(secret: SecretStr | None) -> SecretStr | None:
    if secret is not None and secret.get_secret_value().strip().lower() in WELL_KNOWN_PASSWORDS:
        raise ValueError("a well-known default password is refused; set a secret of your own")
    return secret


def _min_length(length: int):
    def check(secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < length:
            raise ValueError(f"too short: at least {length} characters are required")
        return secret

    return check


def Secret(min_length: int):  # noqa: N802 - reads as a type in annotations
    return Annotated[SecretStr, AfterValidator(_refuse_well_known), AfterValidator(_min_length(min_length))]


def _to_e164(value: Any) -> str:
    if not isinstance(value, (str, int)):
        raise ValueError("a phone number is expected, such as +74952121562")
    text = str(value).strip()
    try:
        parsed = phonenumbers.parse(text if text.startswith(("+", "8")) else f"+{text}", "RU")
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"{text!r} is not a phone number: {error}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{text!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


E164 = Annotated[str, BeforeValidator(_to_e164)]
Digits = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v), Field(pattern=r"^[0-9]+$")]
Extension = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int) else v),
    Field(pattern=r"^[0-9]{2,6}$", description="2 to 6 digits"),
]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="lower-case letters, digits, _")]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2), PlainSerializer(str, when_used="json")]
Port = Annotated[int, Field(ge=1, le=65535)]


# A sound reaches FreeSWITCH inside application arguments, where "${...}"
# is expanded (${system(...)} runs a command) and spaces separate arguments:
# only plain relative paths of safe characters are accepted.
SOUND_EXTENSIONS = (".wav",)
_SOUND_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}(?:/[A-Za-z0-9_][A-Za-z0-9._-]{0,99}){0,7}")


def _sound_path(value: str) -> str:
    if not _SOUND_PATH.fullmatch(value) or ".." in value or not value.lower().endswith(SOUND_EXTENSIONS):
        shown = repr(value) if len(value) <= 60 else repr(value[:60]) + "…"
        raise ValueError(
            f"{shown} is not a safe sound path: a path relative to the sounds directory, such as ivr/ivr-welcome.wav, "
            f"of letters, digits, '.', '_' and '-' between '/' (no '..', spaces, '$', braces or other signs), ending in {', '.join(SOUND_EXTENSIONS)}"
        )
    return value


SoundPath = Annotated[str, AfterValidator(_sound_path)]


def _resolve_path(value: Path) -> Path:
    return value if value.is_absolute() else (SITE_DIR.get() / value)


SitePath = Annotated[Path, AfterValidator(_resolve_path)]


def _loopback(address: ipaddress.IPv4Address) -> ipaddress.IPv4Address:
    if not address.is_loopback:
        raise ValueError(f"{address} is not a loopback address; this socket must not leave the host")
    return address


LoopbackAddress = Annotated[ipaddress.IPv4Address, AfterValidator(_loopback)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _given_in_part_keeps_the_default(cls, data: Any) -> Any:
        """A field given in part keeps the rest of its default: one field of a
        nested object (``BIZPBX_CONTROLLER__METRICS__HOST`` keeps the metrics
        port), one entry of a table (a connection fee keeps the other fees; an
        entry set to null removes a default one)."""
        if not isinstance(data, dict):
            return data
        merged = None
        for name, given in data.items():
            if isinstance(given, dict):
                base = _default_base(cls, name)
                if base:
                    merged = merged if merged is not None else dict(data)
                    merged[name] = _overlay(base, given, table=not isinstance(base, _Set))
        return data if merged is None else merged


class _Set(dict):
    """The fields a default object sets beyond its class's own defaults."""


_DEFAULT_BASES: dict[tuple[type, str], dict[str, Any] | None] = {}


def _default_base(model: type[BaseModel], name: str) -> dict[str, Any] | None:
    key = (model, name)
    if key not in _DEFAULT_BASES:
        field = model.model_fields.get(name)
        default = None if field is None or field.is_required() else field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            _DEFAULT_BASES[key] = _Set(default.model_dump(exclude_unset=True))
        elif isinstance(default, dict):
            _DEFAULT_BASES[key] = dict(default)
        else:
            _DEFAULT_BASES[key] = None
    return _DEFAULT_BASES[key]


def _overlay(base: dict[str, Any], given: dict[Any, Any], *, table: bool) -> dict[str, Any]:
    merged = dict(base)
    for raw_key, value in given.items():
        key = str(raw_key) if isinstance(raw_key, int) and not isinstance(raw_key, bool) else raw_key
        old = merged.get(key)
        if table and value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(old, (dict, BaseModel)):
            merged[key] = _overlay(old if isinstance(old, dict) else old.model_dump(exclude_unset=True), value, table=False)
        else:
            merged[key] = value
    return merged


# --- call targets -------------------------------------------------------------


class TargetKind(StrEnum):
    EXTENSION = "extension"
    GROUP = "group"
    IVR = "ivr"
    VOICEMAIL = "voicemail"
    NUMBER = "number"
    HANGUP = "hangup"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a call goes: `extension:101`, `group:sales`, `ivr:main`,
    `voicemail:101`, `number:+79161234567` (out through the trunk), `hangup`."""

    kind: TargetKind
    value: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.value else str(self.kind)


_TARGET_VALUE = {
    TargetKind.EXTENSION: re.compile(r"^[0-9]{2,6}$"),
    TargetKind.VOICEMAIL: re.compile(r"^[0-9]{2,6}$"),
    TargetKind.GROUP: re.compile(r"^[a-z][a-z0-9_]{0,31}$"),
    TargetKind.IVR: re.compile(r"^[a-z][a-z0-9_]{0,31}$"),
}


def _parse_target(value: Any) -> Target:
    if isinstance(value, Target):
        return value
    if not isinstance(value, str):
        raise ValueError("a target such as extension:101, group:sales, ivr:main, voicemail:101, number:+7… or hangup")
    kind_text, _, rest = value.strip().partition(":")
    try:
        kind = TargetKind(kind_text)
    except ValueError:
        allowed = ", ".join(k.value for k in TargetKind)
        raise ValueError(f"{value!r}: unknown target kind {kind_text!r} (one of {allowed})") from None
    if kind is TargetKind.HANGUP:
        if rest:
            raise ValueError(f"{value!r}: hangup takes no value")
        return Target(kind)
    if kind is TargetKind.NUMBER:
        return Target(kind, _to_e164(rest))
    if not _TARGET_VALUE[kind].match(rest):
        raise ValueError(f"{value!r}: {kind} needs {'an extension of 2-6 digits' if kind in (TargetKind.EXTENSION, TargetKind.VOICEMAIL) else 'a name'}")
    return Target(kind, rest)


CallTarget = Annotated[Target, BeforeValidator(_parse_target), PlainSerializer(str)]


# --- trunks and rate decks ------------------------------------------------------


class Increments(Model):
    """How a call's length is rounded before pricing (60/60: per started minute)."""

    initial: int = Field(60, ge=1, description="seconds billed for the first step")
    subsequent: int = Field(60, ge=1, description="seconds per further step")
    free_seconds: int = Field(0, ge=0, description="calls shorter than this cost nothing")


class RateRow(Model):
    prefix: str
    rate: Money = Field(description="price per minute")
    increments: Increments = Increments()
    connect_fee: Money = Decimal(0)
    description: str = ""
    line: int = Field(0, description="line of the CSV file it came from")


_DECK_COLUMNS = ("prefix", "rate", "initial", "subsequent", "free_seconds", "connect_fee", "description")


@dataclass(frozen=True)
class RateDeck:
    """An outbound rate deck read from CSV.

    Columns (header required): ``prefix,rate`` and optionally ``initial``,
    ``subsequent``, ``free_seconds``, ``connect_fee``, ``description``. A prefix
    may be a range in the tariff tables' notation (``783141-3``).
    """

    path: Path
    rows: tuple[RateRow, ...]

    def __str__(self) -> str:
        return str(self.path)


# A deck of a million prefixes is several times the largest carrier's; the
# cap keeps a deck (and its ranges) from filling the memory.
MAX_DECK_PREFIXES = 500_000
# Decks are the operator's own files, yet a wrong path (../../etc/passwd)
# must not show another file's content: nothing of a file is quoted until
# its header says it is a deck, and then only short excerpts.
_EXCERPT = 40


def _excerpt(text: str) -> str:
    return repr(text) if len(text) <= _EXCERPT else repr(text[:_EXCERPT]) + "…"


class _DeckError(ValueError):
    pass


def _decimal(text: str, column: str, where: str) -> Decimal:
    try:
        value = Decimal(text) if len(text) <= _EXCERPT else None
    except InvalidOperation:
        value = None
    if value is None:
        raise _DeckError(f"{where}: {column} {_excerpt(text)} is not a number")
    if not value.is_finite() or value < 0:
        raise _DeckError(f"{where}: {column} {_excerpt(text)} must be a non-negative number")
    sign, digits, exponent = value.as_tuple()
    if isinstance(exponent, int) and exponent < -2:
        raise _DeckError(f"{where}: {column} {_excerpt(text)} has more than 2 decimal places")
    if value >= Decimal(10) ** 12:
        raise _DeckError(f"{where}: {column} {_excerpt(text)} is too large")
    return value


def _int(text: str, column: str, where: str, minimum: int) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or int(text) < minimum:
        raise _DeckError(f"{where}: {column} {_excerpt(text)} must be a whole number >= {minimum} (at most 9 digits)")
    return int(text)


# A deck's line is a prefix, a few numbers and a description.
MAX_DECK_LINE = 4096


def _deck_lines(handle: Any, path: Path) -> Iterator[str]:
    """The file's lines as text (newlines kept, for quoted fields), each checked to be UTF-8."""
    number = 0
    while raw := handle.readline(MAX_DECK_LINE + 1):
        number += 1
        if len(raw) > MAX_DECK_LINE:
            raise _DeckError(f"{path}:{number}: a line longer than {MAX_DECK_LINE} bytes" + ("" if number > 1 else ": not a rate deck"))
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _DeckError(f"{path}:{number}: not UTF-8 text (byte {error.start + 1} of the line)") from None


def read_rate_deck(path: Path) -> RateDeck:
    """Read a rate deck; every problem is reported with the file and line."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ValueError(f"cannot read rate deck {path}: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # /dev/zero would never end
        handle.close()
        raise ValueError(f"{path}: not a rate deck: not a regular file")
    reader = csv.reader(_deck_lines(handle, path), strict=True)
    try:
        with handle:
            return _read_deck_rows(path, reader)
    except csv.Error as error:
        raise ValueError(f"{path}:{reader.line_num}: not a CSV line ({error})") from None
    except OSError as error:
        raise ValueError(f"cannot read rate deck {path}: {error.strerror}") from None
    except _DeckError as error:
        raise ValueError(str(error)) from None


def _read_deck_rows(path: Path, reader: Any) -> RateDeck:
    header = [column.strip().lower() for column in next(reader, [])]
    if header[:2] != ["prefix", "rate"]:
        raise _DeckError(f"{path}:1: not a rate deck: the first line must be a header starting with prefix,rate")
    unknown = [column for column in header if column not in _DECK_COLUMNS]
    if unknown or len(set(header)) != len(header):
        what = f"unknown column(s) {', '.join(_excerpt(c) for c in unknown[:5])}" if unknown else "a column named twice"
        raise _DeckError(f"{path}:1: {what}; the header is prefix,rate and may add {', '.join(_DECK_COLUMNS[2:])}")
    rows: list[RateRow] = []
    seen: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        where = f"{path}:{line}"
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise _DeckError(f"{where}: {len(values)} columns where the header has {len(header)}")
        record = dict(zip(header, (v.strip() for v in values), strict=True))
        try:
            count = prefix_count(record["prefix"])
        except PrefixSpecError as error:
            raise _DeckError(f"{where}: {error}") from None
        if len(rows) + count > MAX_DECK_PREFIXES:
            raise _DeckError(f"{where}: the deck stands for more than {MAX_DECK_PREFIXES} prefixes")
        increments = Increments(
            initial=_int(record.get("initial") or "60", "initial", where, 1),
            subsequent=_int(record.get("subsequent") or "60", "subsequent", where, 1),
            free_seconds=_int(record.get("free_seconds") or "0", "free_seconds", where, 0),
        )
        rate = _decimal(record["rate"], "rate", where)
        connect_fee = _decimal(record.get("connect_fee") or "0", "connect_fee", where)
        description = record.get("description", "")
        if len(description) > 200:
            raise _DeckError(f"{where}: description longer than 200 characters")
        for prefix in expand(record["prefix"]):
            if prefix in seen:
                raise _DeckError(f"{where}: prefix {prefix} is already priced on line {seen[prefix]}")
            seen[prefix] = line
            rows.append(
                RateRow(prefix=prefix, rate=rate, increments=increments, connect_fee=connect_fee, description=description, line=line)
            )
    return RateDeck(path=path, rows=tuple(rows))


def _load_rate_deck(value: Any) -> RateDeck:
    if isinstance(value, RateDeck):
        return value
    if not isinstance(value, (str, Path)):
        raise ValueError("a path to a CSV rate deck is expected")
    return read_rate_deck(_resolve_path(Path(value)))


RateDeckFile = Annotated[RateDeck, BeforeValidator(_load_rate_deck), PlainSerializer(str)]

KNOWN_CODECS = ("PCMA", "PCMU", "G722", "OPUS", "G729", "GSM", "ILBC", "SPEEX", "AMR", "AMR-WB", "H264", "VP8")


def _codec(value: str) -> str:
    name = value.strip().upper()
    if name not in KNOWN_CODECS:
        raise ValueError(f"unknown codec {value!r} (known: {', '.join(KNOWN_CODECS)})")
    return name


class Trunk(Model):
    """The customer's own SIP trunk."""

    proxy: str = Field(min_length=1, pattern=r"^[A-Za-z0-9.\-:\[\]]+$", description="provider's SIP host name or address")
    port: Port = 5060
    transport: Literal["udp", "tcp", "tls"] = Field("udp", description="tls is refused until the renderer sets up certificates")
    auth: Literal["registration", "ip"] = Field("registration", description="register with username/password, or be trusted by source address")
    username: str | None = None
    password: Secret(8) | None = None
    realm: str | None = None
    register_expires: int = Field(600, ge=60, le=86400)
    caller_id: E164 | None = Field(None, description="number presented on outbound calls when the organization has none")
    codecs: list[Annotated[str, AfterValidator(_codec)]] = Field(default_factory=lambda: ["PCMA", "PCMU"], min_length=1)
    source_addresses: list[ipaddress.IPv4Network] = Field(min_length=1, description="provider's signalling addresses: ACL and firewall")
    max_concurrent_calls: int = Field(30, ge=1)
    numbers: list[E164] = Field(default_factory=list, description="numbers this trunk delivers to the site")
    rate_deck: RateDeckFile | None = Field(None, description="CSV of outbound prices per prefix")

    @field_validator("transport")
    @classmethod
    def _transport_the_renderer_supports(cls, transport: str) -> str:
        # A TLS gateway needs a TLS listener with certificates on the external
        # profile; rendering one without them would fail at the switch, not here.
        if transport == "tls":
            raise ValueError("tls trunks are not supported yet (the external profile has no certificates); use udp or tcp")
        return transport

    @model_validator(mode="after")
    def _registration_needs_credentials(self) -> Trunk:
        if self.auth == "registration":
            # The password is a secret: bizpbx.site_rules asks for it where it is used.
            if self.username is None:
                raise ValueError("auth is registration, so username must be set")
        return self


# --- numbers --------------------------------------------------------------------


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


# --- organizations --------------------------------------------------------------


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


class Voicemail(Model):
    enabled: bool = False
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    pin: Annotated[SecretStr, AfterValidator(_digits_pin)] | None = Field(None, description="generated when absent")


class Employee(Model):
    name: str = Field(min_length=1, max_length=80)
    password: Secret(12) | None = Field(None, description="SIP password; generated and stored when absent")
    forwarding: Forwarding = Forwarding()
    voicemail: Voicemail = Voicemail()


class RingGroup(Model):
    extension: Extension | None = Field(None, description="dialable inside the organization")
    strategy: Literal["simultaneous", "sequential"] = "simultaneous"
    members: list[Extension] = Field(min_length=1)
    ring_seconds: int = Field(20, ge=5, le=300, description="simultaneous: for the whole group; sequential: per member")
    fallback: CallTarget | None = Field(None, description="when nobody answers; hang up if unset")


class IvrMenu(Model):
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


class Organization(Model):
    name: str = Field(min_length=1, max_length=200)
    plan: Literal["profi", "vip"] | None = Field(None, description="telephony plan; without one only internal calls")
    owner: Extension = Field(description="extension that takes calls when there are no incoming rules")
    employees: dict[Extension, Employee] = Field(min_length=1)
    ring_groups: dict[Name, RingGroup] = Field(default_factory=dict)
    ivr_menus: dict[Name, IvrMenu] = Field(default_factory=dict)
    incoming: list[IncomingRule] = Field(default_factory=list)
    caller_id: E164 | None = Field(None, description="presented on outbound calls; one of its numbers or the main number")
    trunk: Name | None = Field(None, description="trunk for outbound calls; the only trunk when unset")
    outbound: OutboundPolicy = OutboundPolicy()

    @property
    def has_telephony(self) -> bool:
        return self.plan is not None


# --- tariffs (RULES.md) ---------------------------------------------------------


class Plan(Model):
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


def _default_plans() -> dict[str, Plan]:
    return {
        "prosto": Plan(title="Просто", monthly_fee=Decimal(1000), call_credit=Decimal(200), applies_to="individual"),
        "standard": Plan(title="Стандарт", monthly_fee=Decimal(1500), applies_to="hotline"),
        "profi": Plan(title="Профи", monthly_fee=Decimal(1990), applies_to="organization"),
        "vip": Plan(title="VIP", monthly_fee=Decimal(2990), applies_to="organization"),
    }


def _default_hotline_origins() -> list[HotlineOrigin]:
    table = [
        ("Moscow, St Petersburg and their oblasts", ["7495", "7499", "7496", "7498", "7812", "7813"], "2.00"),
        ("Kazan", ["78432", "78435"], "3.50"),
        ("Nizhny Novgorod", ["78312", "783141-3", "783146"], "3.50"),
        ("Chelyabinsk", ["73512", "73517"], "3.50"),
        ("Yekaterinburg", ["73432", "73433"], "3.00"),
        ("Novosibirsk", ["73832", "73833"], "3.00"),
        ("Rostov-on-Don", ["78632", "78633"], "3.00"),
        ("Samara", ["78462", "78469", "7846300-4", "7846306-9", "784630-4", "784636-9"], "3.00"),
        ("mobile and every other Russian number", ["7"], "3.50"),
    ]
    return [HotlineOrigin(origin=o, prefixes=p, rate=Decimal(r)) for o, p, r in table]


class Tariffs(Model):
    currency: Literal["RUB"] = "RUB"
    billing: Increments = Increments()
    individual_connection_fees: dict[Annotated[str, Field(pattern=r"^[0-9]{3}$")], Money] = Field(
        default_factory=lambda: {
            "495": Decimal(2500),
            **{code: Decimal(1000) for code in ("499", "812", "343", "831", "863", "843")},
        },
        description="one-time fee by area code",
    )
    hotline_connection_fee: Money = Decimal(2950)
    plans: dict[Name, Plan] = Field(default_factory=_default_plans)
    individual_plan: Name = "prosto"
    hotline_plan: Name = "standard"
    hotline_origins: list[HotlineOrigin] = Field(default_factory=_default_hotline_origins)

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


# --- the main number, the switch, ESL and the controller ------------------------


class MainNumber(Model):
    number: E164 = "+74952121562"
    prompt: SoundPath = Field("ivr/ivr-please_enter_extension_followed_by_pound.wav", description="asks for the organization ID")
    invalid_prompt: SoundPath = "ivr/ivr-that_was_an_invalid_entry.wav"
    max_attempts: int = Field(3, ge=1, le=10)
    digit_timeout_seconds: int = Field(5, ge=1, le=30)


class SipProfile(Model):
    ip: ipaddress.IPv4Address | None = Field(None, description="address to bind; the host's primary address when unset")
    port: Port
    external_ip: ipaddress.IPv4Address | None = Field(None, description="public address behind NAT")


# A call through the switch is two sessions (the caller's leg and the leg it is bridged to), and
# FreeSWITCH's max-sessions and sessions-per-second count sessions.
SESSIONS_PER_CALL = 2


class FreeSwitch(Model):
    conf_dir: Path = Path("/etc/freeswitch")
    log_dir: Path = Path("/var/log/freeswitch")
    storage_dir: Path = Path("/var/lib/freeswitch/storage")
    sounds_dir: Path = Path("/usr/share/freeswitch/sounds")
    phrases_dir: Path = Field(
        Path("/usr/share/freeswitch/lang"),
        description="FreeSWITCH's phrase files by language (package freeswitch-lang-en; etc/freeswitch/lang in a source build): voicemail speaks with them",
    )
    sip_domain: Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")] | None = Field(None, description="domain phones register to; the internal profile's address when unset")
    max_calls: int = Field(500, ge=1, le=50000, description="calls at once; the switch counts each call's two legs, so its max-sessions is twice this")
    calls_per_second: int = Field(30, ge=1, le=5000, description="new calls a second; the switch's sessions-per-second is twice this (both legs count)")
    rtp_start_port: Port = 16384
    rtp_end_port: Port = 32768
    internal: SipProfile = SipProfile(port=5060)
    external: SipProfile = SipProfile(port=5080)
    phone_networks: list[ipaddress.IPv4Network] = Field(
        default_factory=lambda: [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")],
        min_length=1,
        description="where phones may register from",
    )
    log_level: Literal["debug", "info", "notice", "warning", "err"] = "info"

    @property
    def max_sessions(self) -> int:
        return SESSIONS_PER_CALL * self.max_calls

    @property
    def sessions_per_second(self) -> int:
        return SESSIONS_PER_CALL * self.calls_per_second

    @model_validator(mode="after")
    def _ports_make_sense(self) -> FreeSwitch:
        if self.rtp_start_port >= self.rtp_end_port:
            raise ValueError(f"rtp_start_port {self.rtp_start_port} must be below rtp_end_port {self.rtp_end_port}")
        if self.internal.port == self.external.port:
            raise ValueError(f"internal and external SIP profiles both use port {self.internal.port}")
        return self


class Esl(Model):
    host: LoopbackAddress = ipaddress.IPv4Address("127.0.0.1")
    port: Port = 8021
    password: Secret(12) | None = Field(None, description="required by render, the controller and validate; ClueCon and other well-known values are refused")
    acl: list[ipaddress.IPv4Network] = Field(
        default_factory=lambda: [ipaddress.IPv4Network("127.0.0.1/32")], min_length=1, description="who may connect"
    )

    @field_validator("acl")
    @classmethod
    def _loopback_only(cls, networks: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        for network in networks:
            if not network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
                raise ValueError(f"{network} is not on loopback; the event socket is reachable from loopback only")
        return networks


class Listen(Model):
    host: LoopbackAddress = ipaddress.IPv4Address("127.0.0.1")
    port: Port


# Every event a webhook can be sent (bizpbx.controller.call_events and trunk_state make them).
EVENT_NAMES = ("call.started", "call.answered", "call.transferred", "call.ended", "trunk.down", "trunk.up")


def _event_pattern(value: str) -> str:
    if not re.fullmatch(r"[a-z*][a-z_.*]*", value) or not any(fnmatchcase(name, value) for name in EVENT_NAMES):
        raise ValueError(f"{value!r} matches no event ({', '.join(EVENT_NAMES)}); `*` stands for any text, as in call.*")
    return value


def _url_without_password(url: str) -> str:
    """The URL as `bizpbx show` prints it: a password in it masked."""
    return re.sub(r"^(https?://[^:@/\s]*):[^@/\s]*@", r"\1:**********@", url)


EventPattern = Annotated[str, AfterValidator(_event_pattern)]


class Webhook(Model):
    url: Annotated[
        str,
        Field(pattern=r"^https?://[^\s/]+(/\S*)?$", description="https://user:password@host/path sends HTTP Basic credentials"),
        PlainSerializer(_url_without_password, when_used="json"),
    ]
    secret: Secret(16) | None = Field(None, description="key of the X-Bizpbx-Signature HMAC-SHA256 of the timestamp and the body; required where the controller runs")
    events: list[EventPattern] = Field(default_factory=lambda: ["*"], min_length=1, description="event names, `*` as a wildcard (call.*)")
    timeout_seconds: float = Field(5.0, gt=0, le=60, description="to connect, and for each read or write; an attempt gets 3 times this")
    ca_file: SitePath | None = Field(None, description="PEM file of the CA(s) trusted for an https url instead of the system's")
    dead_letter_after_seconds: float = Field(86400.0, gt=0, description="an event failing this long is set aside as a dead letter")

    @model_validator(mode="after")
    def _ca_file_needs_https(self) -> Webhook:
        if self.ca_file is not None and not self.url.startswith("https://"):
            raise ValueError("ca_file is for an https url")
        return self


class Controller(Model):
    socket: Listen = Listen(port=8084)
    metrics: Listen = Listen(port=9464)
    ledger: SitePath = Path("/var/lib/bizpbx/ledger.sqlite3")
    webhooks: dict[Name, Webhook] = Field(default_factory=dict)


# --- the site -------------------------------------------------------------------


class Site(BaseSettings):
    """A bizpbx site: trunks, numbers, organizations, tariffs, the switch."""

    model_config = SettingsConfigDict(
        env_prefix="BIZPBX_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )

    name: Name = "bizpbx"
    timezone: str = Field("Europe/Moscow", description="business hours and billing months")
    main_number: MainNumber = MainNumber()
    trunks: dict[Name, Trunk] = Field(min_length=1)
    numbers: dict[E164, Number] = Field(default_factory=dict)
    organizations: dict[Digits, Organization] = Field(default_factory=dict)
    tariffs: Tariffs = Tariffs()
    freeswitch: FreeSwitch = FreeSwitch()
    esl: Esl = Esl()
    controller: Controller = Controller()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file, which arrives as init arguments.
        return (env_settings, init_settings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @field_validator("numbers", mode="before")
    @classmethod
    def _one_entry_per_number(cls, value: Any) -> Any:
        if isinstance(value, dict):
            seen: dict[str, Any] = {}
            for key in value:
                try:
                    normal = _to_e164(key)
                except ValueError:
                    continue  # reported by the key's own validation
                if normal in seen:
                    raise ValueError(f"{key!r} and {seen[normal]!r} are the same number {normal}")
                seen[normal] = key
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def numbers_of(self, org_id: str) -> dict[str, Number]:
        return {e164: n for e164, n in self.numbers.items() if n.organization == org_id}

    def trunk_for(self, org: Organization) -> tuple[str, Trunk]:
        name = org.trunk or next(iter(self.trunks))
        return name, self.trunks[name]

    def trunk_delivering(self, number: str) -> str | None:
        return next((name for name, trunk in self.trunks.items() if number in trunk.numbers), None)
