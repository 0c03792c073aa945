"""The value types a site is written in, and the base of every part of it.

Secrets refuse well-known passwords; phone numbers come out in E.164; sound
paths are plain relative paths; a relative path is read relative to the site
file (`SITE_DIR`, set by the loader). `Model` lets a part given in part keep
the rest of its default.
"""

from __future__ import annotations

import ipaddress
import re
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, SecretStr, model_validator

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


def to_e164(value: Any) -> str:
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


E164 = Annotated[str, BeforeValidator(to_e164)]
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


def check_sound_path(value: str) -> str:
    if not _SOUND_PATH.fullmatch(value) or ".." in value or not value.lower().endswith(SOUND_EXTENSIONS):
        shown = repr(value) if len(value) <= 60 else repr(value[:60]) + "…"
        raise ValueError(
            f"{shown} is not a safe sound path: a path relative to the sounds directory, such as ivr/ivr-welcome.wav, "
            f"of letters, digits, '.', '_' and '-' between '/' (no '..', spaces, '$', braces or other signs), ending in {', '.join(SOUND_EXTENSIONS)}"
        )
    return value


SoundPath = Annotated[str, AfterValidator(check_sound_path)]

# The languages a site can speak: FreeSWITCH's phrases and say module exist for both, and
# espeak-ng has a voice for each.
Language = Literal["ru", "en"]

# A text spoken into a prompt (espeak-ng reads it as an argument, never through a shell).
PromptText = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$", description="one line of text")]


def resolve_site_path(value: Path) -> Path:
    return value if value.is_absolute() else (SITE_DIR.get() / value)


SitePath = Annotated[Path, AfterValidator(resolve_site_path)]


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

