"""Normalized call events for consumers (the CRM first of all), built from
FreeSWITCH's channel data and events and from rated calls. Pure functions.

Every event is a JSON object with ``event`` (call.started, call.answered,
call.transferred, call.ended), ``id`` (stable: a consumer that sees an id
twice has seen the same event), ``call_uuid`` and ``at`` (UTC, ISO 8601).

``call.started`` is made from the channel data the switch hands the
controller's socket: by then the dialplan has set what it knows of the call
(direction, organization, the number called). A call the controller never
saw (it was down) gets its ``call.started`` and ``call.answered`` from its
CDR when that is read, marked ``recovered``, just before its ``call.ended``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bizpbx.cdr import CDR_COLUMNS
from bizpbx.esl.events import Event
from bizpbx.rating.cdr_input import record_from_columns
from bizpbx.rating.rate import CallRecord, Rating

STARTED = "call.started"
ANSWERED = "call.answered"
TRANSFERRED = "call.transferred"
ENDED = "call.ended"

# Channel variables the CDR reads, and the event header that carries each
# (a few are channel fields rather than variables in an event).
_EVENT_HEADER = {"uuid": "Unique-ID", "caller_id_number": "Caller-Caller-ID-Number", "destination_number": "Caller-Destination-Number"}
_CDR_HEADERS = tuple((column, _EVENT_HEADER.get(variable, f"variable_{variable}")) for column, variable in CDR_COLUMNS)


@dataclass(frozen=True, slots=True)
class CallEvent:
    key: str  # unique per event: the outbox stores it once
    call_uuid: str
    name: str
    body: dict[str, Any]

    def as_row(self) -> tuple[str, str, str, dict[str, Any]]:
        return self.key, self.call_uuid, self.name, self.body


def is_call_leg(event: Event) -> bool:
    """The caller's leg (A-leg), the one a CDR with legs=a describes; B-legs are `outbound`."""
    return event.get("Call-Direction") == "inbound"


def record_from_event(event: Event) -> CallRecord:
    """The CDR of a CHANNEL_HANGUP_COMPLETE event; CdrError if it lacks what a CDR needs."""
    values = {}
    for column, header in _CDR_HEADERS:
        value = event.get(header, "")
        values[column] = value if isinstance(value, str) else value[0]
    return record_from_columns(values)


def event_time(event) -> str:
    """When FreeSWITCH raised the event (UTC, ISO 8601)."""
    micros = event.get("Event-Date-Timestamp")
    moment = datetime.fromtimestamp(int(micros) / 1e6, timezone.utc) if isinstance(micros, str) and micros.isdigit() else datetime.now(timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def _epoch_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")


def _variable(event, name: str) -> str | None:
    value = event.get(f"variable_{name}")
    return value if isinstance(value, str) and value else None


def _make(uuid: str, name: str, key_suffix: str, at: str, **fields: Any) -> CallEvent:
    key = f"{uuid}:{name}{key_suffix}"
    return CallEvent(key, uuid, name, {"event": name, "id": key, "call_uuid": uuid, "at": at, **fields})


def started(channel) -> CallEvent:
    """From the channel data of the controller's socket (headers and channel variables)."""
    return _make(
        header_text(channel, "Unique-ID"),
        STARTED,
        "",
        event_time(channel),
        **{"from": header_text(channel, "Caller-Caller-ID-Number"), "to": header_text(channel, "Caller-Destination-Number")},
        organization=_variable(channel, "bizpbx_org_id"),
        direction=_variable(channel, "bizpbx_direction"),
        number=_variable(channel, "bizpbx_called"),
        number_kind=_variable(channel, "bizpbx_number_kind"),
    )


def answered(event: Event) -> CallEvent:
    return _make(event.unique_id or "", ANSWERED, "", event_time(event), organization=_variable(event, "bizpbx_org_id"))


def recovered(call: CallRecord) -> list[CallEvent]:
    """The call.started (and call.answered) of a call known only from its CDR."""
    start = call.start_epoch or call.answer_epoch
    events = [
        _make(
            call.uuid,
            STARTED,
            "",
            _epoch_time(start) if start else _now(),
            **{"from": call.caller, "to": call.callee},
            organization=call.organization or None,
            direction=call.direction.value,
            number=call.called_number or None,
            number_kind=call.number_kind.value if call.number_kind else None,
            recovered=True,
        )
    ]
    if call.answer_epoch:
        events.append(_make(call.uuid, ANSWERED, "", _epoch_time(call.answer_epoch), organization=call.organization or None, recovered=True))
    return events


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def header_text(headers, name: str) -> str:
    """A header's value as text (the first of a multi-valued one, '' when absent)."""
    value = headers.get(name, "")
    return value if isinstance(value, str) else (value[0] if value else "")


def transferred(uuid: str, sequence: int, organization: str | None, target: str, reason: str) -> CallEvent:
    return _make(uuid, TRANSFERRED, f":{sequence}", _now(), organization=organization, to=target, reason=reason)


def ended(call: CallRecord, rating: Rating, at: str | None = None) -> CallEvent:
    end = at or (_epoch_time(call.answer_epoch + call.billsec) if call.answer_epoch else _now())
    return _make(
        call.uuid,
        ENDED,
        "",
        end,
        **{"from": call.caller, "to": call.called_number or call.callee},
        organization=rating.payer or call.organization or None,
        direction=call.direction.value,
        answered=bool(call.answer_epoch),
        duration=call.billsec,
        hangup_cause=call.hangup_cause,
        cost=str(rating.cost),
        currency="RUB",
        rating=rating.outcome.value,
    )
