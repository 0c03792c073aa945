"""The call controller's settings: its sockets, its ledger, the webhooks it sends call events to."""

from __future__ import annotations

import ipaddress
import re
import socket
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, PlainSerializer, model_validator

from bizpbx.settings.fields import Digits, LoopbackAddress, Model, Name, Port, Secret, SitePath


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
    "call.recorded",
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


def _check_reach(host: ipaddress.IPv4Address, networks: list, where: str, who: str) -> None:
    """A listener leaves loopback only towards the networks listed for it (the firewall opens its port to them alone)."""
    if not host.is_loopback and not networks:
        raise ValueError(f"host {host} is not loopback: list the networks {who} in {NETWORKS_FIELD[where]} (without them it stays on loopback)")
    if host.is_loopback and networks:
        raise ValueError(f"{NETWORKS_FIELD[where]} cannot reach host {host} (loopback): leave host out (every address) or set an address of this server")


# The field listing the networks a listener may be reached from.
NETWORKS_FIELD = {"controller.metrics": "controller.metrics.monitoring_networks", "controller.api": "controller.api.crm_networks"}


def _every_address_when(networks_field: str):
    def default_host(data: Any) -> Any:
        if isinstance(data, dict) and data.get(networks_field) and data.get("host") is None:
            return {**data, "host": "0.0.0.0"}
        return data

    return default_host


class MetricsListen(Model):
    """Where Prometheus scrapes the controller: loopback unless monitoring networks are listed."""

    host: ipaddress.IPv4Address = Field(
        ipaddress.IPv4Address("127.0.0.1"), description="127.0.0.1; 0.0.0.0 (every address) when monitoring_networks are given without a host"
    )
    port: Port = 9464
    monitoring_networks: list[ipaddress.IPv4Network] = Field(
        default_factory=list, description="networks Prometheus may scrape from (the firewall opens the port to them alone); none: loopback only"
    )

    _every_address_for_monitoring = model_validator(mode="before")(_every_address_when("monitoring_networks"))

    @model_validator(mode="after")
    def _beyond_loopback_only_for_monitoring(self) -> MetricsListen:
        _check_reach(self.host, self.monitoring_networks, "controller.metrics", "Prometheus scrapes from")
        return self

    @property
    def local_address(self) -> ipaddress.IPv4Address:
        """Where a program on this host reaches the listener (`bizpbx status`)."""
        return ipaddress.IPv4Address("127.0.0.1") if self.host.is_unspecified else self.host


class CrmClient(Model):
    """A program (the CRM) allowed to place and control calls through the API."""

    token: Secret(32) | None = Field(
        None, description="sent as Authorization: Bearer TOKEN; 32 characters or more; required where the controller runs (site.secrets.yml)"
    )
    organizations: list[Digits] = Field(default_factory=list, description="the organizations it may act for; empty: every one")


class CallApi(Model):
    """The click-to-call API: loopback unless the CRM's networks are listed; off without clients."""

    host: ipaddress.IPv4Address = Field(
        ipaddress.IPv4Address("127.0.0.1"), description="127.0.0.1; 0.0.0.0 (every address) when crm_networks are given without a host"
    )
    port: Port = 8095
    crm_networks: list[ipaddress.IPv4Network] = Field(
        default_factory=list, description="networks the CRM calls the API from (the firewall opens the port to them alone); none: loopback only"
    )
    clients: dict[Name, CrmClient] = Field(default_factory=dict, description="who may use the API, by name; none: the API is off")

    _every_address_for_the_crm = model_validator(mode="before")(_every_address_when("crm_networks"))

    @model_validator(mode="after")
    def _beyond_loopback_only_for_the_crm(self) -> CallApi:
        _check_reach(self.host, self.crm_networks, "controller.api", "the CRM calls from")
        return self


class Backups(Model):
    """`bizpbx backup`: where the ledger's copies go and how many are kept."""

    dir: SitePath = Path("/var/lib/bizpbx/backups")
    keep: int = Field(14, ge=1, le=10_000)  # a daily timer: two weeks


def _postgresql_url(value: str) -> str:
    """A postgresql:// URL naming the user, the host and the database, and no password."""
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("a URL such as postgresql://bizpbx@db.example.org:5432/bizpbx is expected")
    if parts.password is not None:
        raise ValueError("the password does not go in the URL: put it in site.secrets.yml as controller.postgresql.password")
    if not parts.username or not parts.hostname:
        raise ValueError("the URL names no user or no host: postgresql://USER@HOST[:PORT]/DATABASE")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number of 0-65535
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535") from None
    if not parts.path.strip("/"):
        raise ValueError("the URL names no database: postgresql://USER@HOST[:PORT]/DATABASE")
    return value


class PostgresLedger(Model):
    """The ledger in PostgreSQL, shared by the controllers of several nodes, instead of the SQLite file."""

    dsn: Annotated[str, AfterValidator(_postgresql_url), Field(description="postgresql://USER@HOST[:PORT]/DATABASE[?sslmode=...], without the password")]
    password: Secret(12) | None = Field(None, description="the database user's password, from site.secrets.yml (BIZPBX_CONTROLLER__POSTGRESQL__PASSWORD)")
    node: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")] = Field(
        default_factory=socket.gethostname, description="this controller's name among the nodes (calls in progress, leases); the host name by default"
    )


class ControllerSettings(Model):
    metrics: MetricsListen = MetricsListen()
    api: CallApi = CallApi()
    ledger: SitePath = Field(Path("/var/lib/bizpbx/ledger.sqlite3"), description="the SQLite ledger file (unused when postgresql is set)")
    postgresql: PostgresLedger | None = None
    webhooks: dict[Name, Webhook] = Field(default_factory=dict)
    backups: Backups = Backups()
    # Delivered call events older than this leave the outbox (dead letters stay).
    delivered_events_days: int = Field(30, ge=1, le=36_500)

    @property
    def ledger_database(self) -> Path | PostgresLedger:
        """Where the ledger is: the PostgreSQL database when one is set, else the SQLite file."""
        return self.postgresql or self.ledger
