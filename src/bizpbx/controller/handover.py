"""The call as the rendered dialplan hands it to the controller's socket: the routing's `Call`
from the channel's data (its bizpbx_* variables), and the call's call.started."""

from __future__ import annotations

from bizpbx.controller import call_events
from bizpbx.controller.call_events import header_text
from bizpbx.esl.headers import Headers
from bizpbx.fs_vocabulary import Var
from bizpbx.routing import Bridge, Call, Leg, Plan, Source
from bizpbx.settings import Site


def started_from_channel(data: Headers, call: Call, site: Site, plan: Plan | None) -> call_events.CallEvent:
    """call.started with what the dialplan knew and, once routed, the plan's direction
    and organization (a phone's call out is known as one only then)."""

    def variable(name: str) -> str | None:
        return header_text(data, f"variable_{Var[name.upper()]}") or None

    organization = (plan.org_id if plan else None) or variable("org_id")
    direction = "outbound" if variable("billed_from") else plan.direction if plan else variable("direction") or "internal"
    number = (next((leg.number for leg in _legs(plan) if leg.external), None) if direction == "outbound" else None) or variable("called")
    return call_events.started(
        call.uuid,
        call_events.event_time(data),
        caller=call.caller,
        called=header_text(data, "Caller-Destination-Number"),
        organization=organization,
        direction=direction,
        number=number,
        number_kind=variable("number_kind") if direction == "inbound" else None,
        employee=call_events.caller_employee(site, organization, variable("user_id") or call.caller) if call.source is Source.PHONE else None,
        reference=variable("reference"),
    )


def _legs(plan: Plan | None) -> list[Leg]:
    return [leg for step in plan.steps if isinstance(step, Bridge) for leg in step.legs] if plan else []


def call_from_channel(data: Headers) -> Call:
    """The call as the rendered dialplan handed it over (its bizpbx_* variables)."""
    uuid = header_text(data, "Unique-ID")
    org_id = header_text(data, f"variable_{Var.ORG_ID}") or None
    caller = header_text(data, "Caller-Caller-ID-Number")
    if header_text(data, f"variable_{Var.DIRECTION}") == "inbound":
        destination = header_text(data, f"variable_{Var.CALLED}") or header_text(data, "Caller-Destination-Number")
        return Call(Source.TRUNK, caller, destination, uuid=uuid)
    destination = header_text(data, "Caller-Destination-Number")
    if org_id is None:
        # Handed over without the dialplan's variables: the trunk side is the safe assumption.
        return Call(Source.TRUNK, caller, destination, uuid=uuid)
    return Call(Source.PHONE, caller, destination, org_id=org_id, uuid=uuid, user=header_text(data, f"variable_{Var.USER_ID}") or None)
