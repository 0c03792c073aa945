"""Each trunk's state, from FreeSWITCH's gateway reports. Pure: no I/O.

FreeSWITCH (mod_sofia, sofia_reg.c) reports a gateway's registration state
in CUSTOM `sofia::gateway_state` events: `Gateway`, `State` (one of
sofia_state_names: UNREGED, TRYING, REGISTER, REGED, UNREGISTER, FAILED,
FAIL_WAIT, EXPIRED, NOREG, DOWN, TIMEOUT), `Ping-Status` (UP, DOWN,
INVALID) and, for a reply to a REGISTER, `Status` and `Phrase` (the SIP
code and reason). `sofia xmlstatus gateway` gives the same for every
gateway at once (`<state>`, `<status>` for the ping status), which the
controller asks at start so that a restart does not lose what it knew.

A trunk is *up* (registered, or not registering: `auth: ip`), *failing* (its registration is refused or unanswered;
FreeSWITCH keeps retrying) or *down* (unregistered). The Ping-Status of a gateway that does not register says
nothing here: it is UP only once FreeSWITCH has checked it, without an event,
and bizpbx renders no OPTIONS pings.
States in between (TRYING a REGISTER, REGISTER just answered) change
nothing: the trunk stays what it was. A change between up and not up makes
one `trunk.down` or `trunk.up` event, with a stable id.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bizpbx.controller.call_events import SCHEMA_VERSION

TRUNK_DOWN = "trunk.down"
TRUNK_UP = "trunk.up"
GATEWAY_STATE_SUBCLASS = "sofia::gateway_state"
# The event socket's filter that lets the reports through (a filter drops every event lacking its header).
GATEWAY_STATE_FILTER = ("Event-Subclass", GATEWAY_STATE_SUBCLASS)

UP, FAILING, DOWN, UNKNOWN = "up", "failing", "down", "unknown"

_REGISTERED = {"REGED"}
_FAILING = {"FAILED", "FAIL_WAIT", "TIMEOUT"}
_DOWN = {"UNREGISTER", "EXPIRED", "DOWN"}
_NOT_REGISTERING = "NOREG"
# What FreeSWITCH records instead of a SIP code when a REGISTER went unanswered (sofia_reg.c).
_TIMEOUT_CODE = "908"


@dataclass(frozen=True, slots=True)
class GatewayReport:
    """One report of a gateway, from an event or from `sofia xmlstatus gateway`."""

    gateway: str
    state: str  # FreeSWITCH's registration state
    ping: str = ""  # UP, DOWN, INVALID; empty when not reported
    code: str = ""  # the SIP status of the REGISTER's reply, when the report is about one
    phrase: str = ""
    at_micros: int | None = None  # when FreeSWITCH raised it (Event-Date-Timestamp)


@dataclass(frozen=True, slots=True)
class TrunkState:
    status: str  # up, failing, down, unknown
    registration: str  # FreeSWITCH's state, "" before the first report
    reason: str | None
    since: str | None  # UTC, ISO 8601


@dataclass(frozen=True, slots=True)
class TrunkEvent:
    key: str
    subject: str  # stored where a call event keeps its call UUID
    name: str
    body: dict[str, Any]

    def as_row(self) -> tuple[str, str, str, dict[str, Any]]:
        return self.key, self.subject, self.name, self.body


def event_subject(trunk: str) -> str:
    """What a trunk's events are stored under (a call event's call UUID)."""
    return f"trunk:{trunk}"


def report_from_event(headers) -> GatewayReport | None:
    """The report a `sofia::gateway_state` event carries (None for any other event)."""

    def text(name: str) -> str:
        value = headers.get(name, "")
        return value if isinstance(value, str) else (value[0] if value else "")

    if text("Event-Subclass") != GATEWAY_STATE_SUBCLASS or not text("Gateway"):
        return None
    micros = text("Event-Date-Timestamp")
    return GatewayReport(text("Gateway"), text("State"), text("Ping-Status"), text("Status"), text("Phrase"), int(micros) if micros.isdigit() else None)


class XmlStatusError(ValueError):
    """`sofia xmlstatus gateway` answered something else than its XML."""


def reports_from_xmlstatus(text: str) -> list[GatewayReport]:
    """Every gateway of `sofia xmlstatus gateway` (`<gateways><gateway>...`)."""
    body = text.strip()
    if not body.startswith("<?xml") and not body.startswith("<gateways"):
        raise XmlStatusError(f"not the switch's gateway list: {body[:80]!r}")
    try:
        root = ET.fromstring(body.encode("latin-1", "replace"))
    except ET.ParseError as error:
        raise XmlStatusError(f"unreadable gateway list: {error}") from None
    gateways = [root] if root.tag == "gateway" else root.findall("gateway")
    return [GatewayReport(g.findtext("name", ""), g.findtext("state", ""), g.findtext("status", "")) for g in gateways if g.findtext("name")]


def _status(report: GatewayReport, previous: str) -> str:
    if report.state in _REGISTERED:
        return UP
    if report.state == _NOT_REGISTERING:
        return UP
    if report.state in _FAILING:
        return FAILING
    if report.state in _DOWN:
        return DOWN
    return previous  # on the way (TRYING, REGISTER, UNREGED): nothing known yet


def _reason(report: GatewayReport, status: str) -> str | None:
    if status == UP:
        return None
    if report.code == _TIMEOUT_CODE or report.state == "TIMEOUT":
        return "registration unanswered (timeout)"
    if report.code:
        return f"registration refused: {report.code} {report.phrase}".rstrip()
    return {"FAILED": "registration failed", "FAIL_WAIT": "registration failed, waiting to retry", "EXPIRED": "registration expired"}.get(
        report.state, f"gateway {report.state.lower()}"
    )


def _iso(micros: int | None) -> str:
    moment = datetime.fromtimestamp(micros / 1e6, timezone.utc) if micros else datetime.now(timezone.utc)
    return moment.isoformat(timespec="milliseconds")


class TrunkWatch:
    """The state of each of the site's trunks; `observe` says what changed."""

    def __init__(self, trunks: Iterable[str]) -> None:
        self._states = {name: TrunkState(UNKNOWN, "", None, None) for name in trunks}

    def set_trunks(self, trunks: Iterable[str]) -> None:
        """A reloaded site: trunks kept keep their state, new ones start unknown."""
        self._states = {name: self._states.get(name, TrunkState(UNKNOWN, "", None, None)) for name in trunks}

    def states(self) -> dict[str, TrunkState]:
        return dict(self._states)

    def observe(self, report: GatewayReport, *, announced: str | None = None) -> TrunkEvent | None:
        """Take a report; the trunk.up or trunk.down it makes, if any.

        `announced`: the last trunk event the consumers were sent about this
        trunk (before a restart); a first report agreeing with it announces nothing.
        """
        current = self._states.get(report.gateway)
        if current is None:
            return None  # a gateway the site does not have (another configuration's)
        status = _status(report, current.status)
        if status == UNKNOWN:
            self._states[report.gateway] = TrunkState(UNKNOWN, report.state, None, None)
            return None
        at = _iso(report.at_micros)
        self._states[report.gateway] = TrunkState(status, report.state, _reason(report, status), at if status != current.status else current.since)
        if current.status != UNKNOWN and (status == UP) == (current.status == UP):
            return None  # failing and down are both "not up": consumers hear of the change once
        name = TRUNK_UP if status == UP else TRUNK_DOWN
        if current.status == UNKNOWN and (announced or TRUNK_UP) == name:
            return None  # as consumers last heard (up, if they never heard anything)
        key = f"{name}:{report.gateway}:{report.at_micros or at}"
        state = self._states[report.gateway]
        body = {"schema": SCHEMA_VERSION, "event": name, "id": key, "trunk": report.gateway, "at": at, "state": status, "registration": report.state, "reason": state.reason}
        return TrunkEvent(key, event_subject(report.gateway), name, body)
