"""What a bridge's events and result say: which leg a person answered, and
how the bridge ended when nobody did (the executor's reading of the switch)."""

from __future__ import annotations

import asyncio
import contextlib

from bizpbx.controller.call_events import header_text
from bizpbx.esl.aio import OutboundSession
from bizpbx.esl.errors import EslError
from bizpbx.esl.events import Event
from bizpbx.fs_vocabulary import BUSY_CAUSES, NO_ANSWER_CAUSES
from bizpbx.routing import Leg, Outcome

ANSWERED_DIALSTATUS = "ANSWER"
BRIDGED = "CHANNEL_BRIDGE"
# The caller was taken by another phone of the organization (call pickup: `intercept`).
PICKED_OFF = "PICKED_OFF"


async def answering_leg(events: asyncio.Queue[Event], legs: dict[str, Leg]) -> tuple[Leg, Event]:
    while True:
        found = bridged_leg(await events.get(), legs)
        if found is not None:
            return found


def answered_leg(events: asyncio.Queue[Event], legs: dict[str, Leg]) -> tuple[Leg, Event] | None:
    """The leg whose CHANNEL_BRIDGE is already queued, if any (earlier events are dropped)."""
    while not events.empty():
        found = bridged_leg(events.get_nowait(), legs)
        if found is not None:
            return found
    return None


async def until_answered_call_ends(session: OutboundSession, bridging: asyncio.Future[Event], hung_up: asyncio.Event | None) -> None:
    """An answered bridge is the switch's to finish (hangup_after_bridge). With `hung_up` the
    controller lets go of the call's socket: each socket is a thread of the switch's that polls
    every 20 ms and weighs every event of every call while the call lasts (in the lab at 60
    calls/s, mod_event_socket took over a sixth of the switch's samples); the call stays the
    controller's (the guard's count, the call API) until its hang-up comes by the event socket or
    the CDR files (`hung_up` set), which describe the caller's legs only (`is_call_leg`). Without,
    the socket stays, with no events on it, until the channel's disconnect notice."""
    bridging.cancel()  # its completion never comes now; a cancelled execute's reply is still read in turn
    with contextlib.suppress(asyncio.CancelledError, EslError):
        await bridging
    with contextlib.suppress(EslError):
        if hung_up is None:
            await session.stop_events()
            await session.wait_channel_over()
        elif await session.let_go():
            await hung_up.wait()


def bridged_leg(event: Event, legs: dict[str, Leg]) -> tuple[Leg, Event] | None:
    if event.name != BRIDGED:
        return None
    leg = legs.get(header_text(event, "Bridge-B-Unique-ID") or header_text(event, "Other-Leg-Unique-ID"))
    return (leg, event) if leg is not None else None


def caller_gone(session: OutboundSession) -> bool:
    return session.closed or session.linger_notice is not None


def unanswered_outcome(result: Event, deadline_passed: bool, session: OutboundSession) -> Outcome | None:
    if result.get("variable_DIALSTATUS") == ANSWERED_DIALSTATUS or caller_gone(session):
        return None
    if deadline_passed:
        return Outcome.NO_ANSWER
    disposition = result.get("variable_originate_disposition")
    if disposition in BUSY_CAUSES:
        return Outcome.BUSY
    if disposition in NO_ANSWER_CAUSES:
        return Outcome.NO_ANSWER
    if disposition in ("ORIGINATOR_CANCEL", PICKED_OFF):
        return None  # the caller hung up while it rang, or another phone picked the call up
    return Outcome.UNAVAILABLE
