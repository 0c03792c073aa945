"""Call targets: where a call goes, written `kind:value` in a site."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

from bizpbx.settings.fields import to_e164

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
        return Target(kind, to_e164(rest))
    if not _TARGET_VALUE[kind].match(rest):
        raise ValueError(f"{value!r}: {kind} needs {'an extension of 2-6 digits' if kind in (TargetKind.EXTENSION, TargetKind.VOICEMAIL) else 'a name'}")
    return Target(kind, rest)


CallTarget = Annotated[Target, BeforeValidator(_parse_target), PlainSerializer(str)]
