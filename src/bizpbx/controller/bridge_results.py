"""What a bridge's events and result say: which leg a person answered, and
how the bridge ended when nobody did (the executor's reading of the switch)."""

from __future__ import annotations

import asyncio
import contextlib

from bizpbx.controller.call_events import header_text
from bizpbx.controller.parked_calls import ParkedCall
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


async def until_answered_call_ends(session: ParkedCall, bridging: asyncio.Future[Event], hung_up: asyncio.Event) -> None:
    """An answered bridge is the switch's to finish (hangup_after_bridge): the controller stops
    waiting for its completion and lets go of the call, which stays the controller's (the guard's
    count, the call API) until its hang-up comes: the ledger's (`hung_up`: by the event socket or
    the CDR files, for the legs it rates) or the channel's own."""
    bridging.cancel()  # its completion never comes now; a cancelled execute's reply is still read in turn
    with contextlib.suppress(asyncio.CancelledError, EslError):
        await bridging
    session.let_go()
    ending = [asyncio.ensure_future(hung_up.wait()), asyncio.ensure_future(session.wait_over())]
    try:
        await asyncio.wait(ending, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in ending:
            waiter.cancel()


def bridged_leg(event: Event, legs: dict[str, Leg]) -> tuple[Leg, Event] | None:
    if event.name != BRIDGED:
        return None
    leg = legs.get(header_text(event, "Bridge-B-Unique-ID") or header_text(event, "Other-Leg-Unique-ID"))
    return (leg, event) if leg is not None else None


def unanswered_outcome(result: Event, deadline_passed: bool, session: ParkedCall) -> Outcome | None:
    if result.get("variable_DIALSTATUS") == ANSWERED_DIALSTATUS or session.over:
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
