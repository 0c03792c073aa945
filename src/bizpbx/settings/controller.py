"""The call controller's settings: its sockets, its ledger, the webhooks it sends call events to."""

from __future__ import annotations

import ipaddress
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainSerializer, model_validator

from bizpbx.settings.fields import LoopbackAddress, Model, Name, Port, Secret, SitePath


class Listen(Model):
    host: LoopbackAddress = ipaddress.IPv4Address("127.0.0.1")
    port: Port


# Every event a webhook can be sent (bizpbx.controller.call_events and trunk_state make them).
EVENT_NAMES = (
    "call.started",
    "call.organization_entered",
    "call.ivr",
    "call.transferred",
    "call.voicemail",
    "call.answered",
    "call.missed",
    "call.ended",
    "trunk.down",
    "trunk.up",
)


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


class MetricsListen(Model):
    """Where Prometheus scrapes the controller: loopback unless monitoring networks are listed."""

    host: ipaddress.IPv4Address = Field(
        ipaddress.IPv4Address("127.0.0.1"), description="127.0.0.1; 0.0.0.0 (every address) when monitoring_networks are given without a host"
    )
    port: Port = 9464
    monitoring_networks: list[ipaddress.IPv4Network] = Field(
        default_factory=list, description="networks Prometheus may scrape from (the firewall opens the port to them alone); none: loopback only"
    )

    @model_validator(mode="before")
    @classmethod
    def _every_address_for_monitoring(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("monitoring_networks") and data.get("host") is None:
            return {**data, "host": "0.0.0.0"}
        return data

    @model_validator(mode="after")
    def _beyond_loopback_only_for_monitoring(self) -> MetricsListen:
        if not self.host.is_loopback and not self.monitoring_networks:
            raise ValueError(
                f"host {self.host} is not loopback: list the networks Prometheus scrapes from in "
                "controller.metrics.monitoring_networks (without them the metrics stay on loopback)"
            )
        if self.host.is_loopback and self.monitoring_networks:
            raise ValueError(
                f"controller.metrics.monitoring_networks cannot reach host {self.host} (loopback): "
                "leave host out (every address) or set an address of this server"
            )
        return self

    @property
    def local_address(self) -> ipaddress.IPv4Address:
        """Where a program on this host reaches the listener (`bizpbx status`)."""
        return ipaddress.IPv4Address("127.0.0.1") if self.host.is_unspecified else self.host


class Backups(Model):
    """`bizpbx backup`: where the ledger's copies go and how many are kept."""

    dir: SitePath = Path("/var/lib/bizpbx/backups")
    keep: int = Field(14, ge=1, le=10_000)  # a daily timer: two weeks


class ControllerSettings(Model):
    socket: Listen = Listen(port=8084)
    metrics: MetricsListen = MetricsListen()
    ledger: SitePath = Path("/var/lib/bizpbx/ledger.sqlite3")
    webhooks: dict[Name, Webhook] = Field(default_factory=dict)
    backups: Backups = Backups()
    # Delivered call events older than this leave the outbox (dead letters stay).
    delivered_events_days: int = Field(30, ge=1, le=36_500)
