"""The call in the CRM's terms: normalized call events, built from what the
controller decided, from FreeSWITCH's channel data and from finished calls.
Pure functions; docs/call-events.schema.json describes every event.

Every event is a JSON object with ``schema`` (SCHEMA_VERSION), ``event``,
``id`` (stable: a consumer that sees an id twice has seen the same event),
``call_uuid`` and ``at`` (UTC, ISO 8601). An event that happens once a call
has an id made of the call and its name; one that may happen again (a
transfer, a menu) adds its sequence number on the call.

``call.answered`` means a person answered: an employee's phone, or the
outside party of a call out through the trunk. The switch answering the
caller itself, for the main number's prompt, a menu or voicemail, is no
answer in the CRM's terms; those are ``call.organization_entered``,
``call.ivr`` and ``call.voicemail``.

A finished call (its hang-up event, or its CDR when the controller missed
it) gives ``call.missed`` when no one answered a call to the company, and
``call.ended``. It also gives again the ``call.started``, ``call.answered``
and ``call.voicemail`` the CDR can tell, marked ``recovered``: the outbox
stores an id once, so these are only sent for a call the controller did
not follow live (it was down, or lost its sockets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bizpbx.cdr import CDR_COLUMNS
from bizpbx.esl.events import Event
from bizpbx.esl.headers import Headers
from bizpbx.fs_vocabulary import Var
from bizpbx.rating.cdr_input import record_from_columns
from bizpbx.rating.rate import CallRecord, Direction, Rating
from bizpbx.settings import Site

# Raised when an event's shape changes incompatibly (README "Call events").
SCHEMA_VERSION = 1

STARTED = "call.started"
ORGANIZATION_ENTERED = "call.organization_entered"
IVR = "call.ivr"
TRANSFERRED = "call.transferred"
VOICEMAIL = "call.voicemail"
ANSWERED = "call.answered"
MISSED = "call.missed"
ENDED = "call.ended"
RECORDED = "call.recorded"

# Calls to the company that no one answered are missed; an outside party not
# answering a call out is not.
_MISSABLE = (Direction.INBOUND, Direction.INTERNAL)

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


# A leg the ledger rates: the caller's leg (A-leg), the one a CDR with legs=a describes
# (B-legs are `outbound`), or a leg the switch dialled that carries a call (LEDGER_LEG).
# Also the inbound socket's event filters: the switch sends no other leg's hang-up.
CALL_LEG_HEADERS = (("Call-Direction", "inbound"), (f"variable_{Var.LEDGER_LEG}", "true"))


def is_call_leg(event: Event | Headers) -> bool:
    """A leg the ledger rates (CALL_LEG_HEADERS), by its hang-up event or its channel's data."""
    return any(event.get(header) == value for header, value in CALL_LEG_HEADERS)


def record_from_event(event: Event) -> CallRecord:
    """The CDR of a CHANNEL_HANGUP_COMPLETE event; CdrError if it lacks what a CDR needs."""
    return record_from_columns({column: header_text(event, header) for column, header in _CDR_HEADERS})


def header_text(headers, name: str) -> str:
    """A header's value as text (the first of a multi-valued one, '' when absent)."""
    value = headers.get(name, "")
    return value if isinstance(value, str) else (value[0] if value else "")


def event_time(event) -> str:
    """When FreeSWITCH raised the event (UTC, ISO 8601)."""
    epoch = event_epoch(event)
    return now() if epoch is None else epoch_time(epoch)


def event_epoch(event) -> float | None:
    """When FreeSWITCH raised the event (Unix time), if it says."""
    micros = event.get("Event-Date-Timestamp")
    return int(micros) / 1e6 if isinstance(micros, str) and micros.isdigit() else None


def epoch_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _make(uuid: str, name: str, at: str, sequence: int | None = None, **fields: Any) -> CallEvent:
    key = f"{uuid}:{name}" if sequence is None else f"{uuid}:{name}:{sequence}"
    return CallEvent(key, uuid, name, {"schema": SCHEMA_VERSION, "event": name, "id": key, "call_uuid": uuid, "at": at, **fields})


# --- who: employees, outside numbers, targets ----------------------------------------------


def party(site: Site, org_id: str | None, target: str) -> dict[str, Any]:
    """A target (extension:101, number:+7…, voicemail:101, group:sales, ivr:main, hangup) as
    the CRM sees it: its kind, and the employee's extension and name or the outside number."""
    kind, _, value = target.partition(":")
    described: dict[str, Any] = {"target": target, "kind": kind}
    if kind in ("extension", "voicemail"):
        org = site.organizations.get(org_id or "")
        employee = org.employees.get(value) if org else None
        described.update(extension=value, name=employee.name if employee else None)
    elif kind == "number":
        described["number"] = value
    return described


def caller_employee(site: Site, org_id: str | None, user: str) -> dict[str, Any] | None:
    """The employee whose phone placed a call: `user` is the phone's user (12-101) or extension."""
    org = site.organizations.get(org_id or "")
    extension = user.removeprefix(f"{org_id}-")
    if org is None or extension not in org.employees:
        return None
    return party(site, org_id, f"extension:{extension}")


# --- events the controller emits while it handles a call -----------------------------------


def started(
    uuid: str,
    at: str,
    *,
    caller: str,
    called: str,
    organization: str | None,
    direction: str,
    number: str | None,
    number_kind: str | None,
    employee: dict[str, Any] | None,
    recovered: bool = False,
    reference: str | None = None,
) -> CallEvent:
    fields: dict[str, Any] = {"from": caller, "to": called, "organization": organization, "direction": direction}
    fields.update(number=number, number_kind=number_kind, employee=employee)
    if reference is not None:
        fields["reference"] = reference  # a call placed through the click-to-call API: the CRM's own
    return _make(uuid, STARTED, at, **fields, **_recovered(recovered))


def organization_entered(uuid: str, organization: str) -> CallEvent:
    return _make(uuid, ORGANIZATION_ENTERED, now(), organization=organization)


def ivr(uuid: str, sequence: int, organization: str, menu: str) -> CallEvent:
    return _make(uuid, IVR, now(), sequence, organization=organization, menu=menu)


def transferred(
    uuid: str, sequence: int, organization: str | None, source: dict[str, Any] | None, target: dict[str, Any], reason: str, continued_as: str | None = None
) -> CallEvent:
    """`continued_as`: the leg under which the call's events go on (a transfer through the API moves the client's leg)."""
    went_on = {"continued_as": continued_as} if continued_as else {}
    return _make(uuid, TRANSFERRED, now(), sequence, organization=organization, **{"from": source, "to": target}, reason=reason, **went_on)


def voicemail(uuid: str, at: str, organization: str | None, box: dict[str, Any], reason: str | None, recovered: bool = False) -> CallEvent:
    return _make(uuid, VOICEMAIL, at, organization=organization, box=box, reason=reason, **_recovered(recovered))


def answered(uuid: str, at: str, organization: str | None, answered_by: dict[str, Any] | None, recovered: bool = False) -> CallEvent:
    return _make(uuid, ANSWERED, at, organization=organization, answered_by=answered_by, **_recovered(recovered))


def recorded(uuid: str, at: str, organization: str | None, seconds: float, size: int, path: str, url: tuple[str, int] | None) -> CallEvent:
    """A call's recording, whole: a URL to fetch it (expiring), or only its path on the server."""
    link = {"url": url[0], "url_expires": epoch_time(url[1])} if url else {"url": None, "url_expires": None}
    return _make(uuid, RECORDED, at, organization=organization, seconds=seconds, bytes=size, format="wav", path=path, **link)


def _recovered(recovered: bool) -> dict[str, bool]:
    return {"recovered": True} if recovered else {}


# --- a finished call ------------------------------------------------------------------------


def finished(site: Site, call: CallRecord, rating: Rating, at: str | None = None, *, recovered: bool = False) -> list[CallEvent]:
    """The events of a finished call, in order: what the record can tell of its course
    (marked recovered: sent only if not already seen live), call.missed, call.ended."""
    end = at or (epoch_time(call.end_epoch) if call.end_epoch else now())
    organization = rating.payer or call.organization or None
    events = [_started_from(site, call)]
    who = _answered_by(site, call)
    if call.answered_by_person:
        bridged = call.bridge_epoch or call.answer_epoch
        events.append(answered(call.uuid, epoch_time(bridged), call.organization or None, who, recovered=True))
    if call.voicemail:
        box = party(site, call.organization, f"voicemail:{call.voicemail}")
        events.append(voicemail(call.uuid, epoch_time(call.answer_epoch) if call.answer_epoch else end, call.organization or None, box, None, recovered=True))
    common = {"from": call.caller, "to": call.called_number or call.callee, "organization": organization, "direction": call.direction.value}
    wait = _wait_seconds(call)
    if not call.answered_by_person and call.direction in _MISSABLE:
        missed = {**common, "number": call.called_number or None, "hangup_cause": call.hangup_cause, "voicemail": bool(call.voicemail)}
        events.append(_make(call.uuid, MISSED, end, **missed, wait_seconds=wait, **_recovered(recovered)))
    events.append(
        _make(
            call.uuid,
            ENDED,
            end,
            **common,
            answered=call.answered_by_person,
            answered_by=who,
            voicemail=bool(call.voicemail),
            wait_seconds=wait,
            talk_seconds=_talk_seconds(call),
            duration=call.billable_seconds,  # a transferred client's leg: from the transfer (its first leg billed before)
            hangup_cause=call.hangup_cause,
            cost=str(rating.cost),
            currency="RUB",
            rating=rating.outcome.value,
            **_recovered(recovered),
        )
    )
    return events


def _started_from(site: Site, call: CallRecord) -> CallEvent:
    start = call.start_epoch or call.answer_epoch
    phone_call = call.direction in (Direction.INTERNAL, Direction.OUTBOUND)  # placed by an employee's phone
    return started(
        call.uuid,
        epoch_time(start) if start else now(),
        caller=call.caller,
        called=call.callee,
        organization=call.organization or None,
        direction=call.direction.value,
        number=call.called_number or None,
        number_kind=call.number_kind.value if call.number_kind else None,
        employee=caller_employee(site, call.organization, call.caller) if phone_call else None,
        recovered=True,
    )


def _answered_by(site: Site, call: CallRecord) -> dict[str, Any] | None:
    if not call.answered_by_person or not call.answered_by:
        return None  # nobody, or a call that went through the static fallback: not known who
    return party(site, call.organization, call.answered_by)


def _wait_seconds(call: CallRecord) -> int | None:
    """From the call's start until a person answered, or until it ended unanswered."""
    until = (call.bridge_epoch or call.answer_epoch) if call.answered_by_person else call.end_epoch
    return max(0, until - call.start_epoch) if call.start_epoch and until else None


def _talk_seconds(call: CallRecord) -> int:
    """From a person's answer to the end (billsec also counts a menu or prompt before it)."""
    if not call.answered_by_person:
        return 0
    if call.bridge_epoch and call.end_epoch:
        return max(0, call.end_epoch - max(call.bridge_epoch, call.billed_from or 0))
    return call.billable_seconds
