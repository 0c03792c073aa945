"""The call controller's settings: its sockets, its ledger, the webhooks it sends call events to."""

from __future__ import annotations

import ipaddress
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer, model_validator

from bizpbx.settings.fields import LoopbackAddress, Model, Name, Port, Secret, SitePath

class Listen(Model):
    host: LoopbackAddress = ipaddress.IPv4Address("127.0.0.1")
    port: Port


# Every event a webhook can be sent (bizpbx.controller.call_events makes them).
EVENT_NAMES = ("call.started", "call.answered", "call.transferred", "call.ended")


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


class ControllerSettings(Model):
    socket: Listen = Listen(port=8084)
    metrics: Listen = Listen(port=9464)
    ledger: SitePath = Path("/var/lib/bizpbx/ledger.sqlite3")
    webhooks: dict[Name, Webhook] = Field(default_factory=dict)
