"""Calls parked for a controller that is no longer there to finish them.

A call the controller was routing when it died (or when its event socket was
lost) is left in `park` once its application ends: its fallback transfer was
cancelled when the controller took it (`bizpbx.controller.parked_calls`), so
nothing resumes it and the caller waits until giving up.

Whenever the event socket (re)connects, and every SWEEP_SECONDS while it is
up, the controller lists the switch's channels and sends each such call
through its extension in the fallback twin of its context (`fs.hand_back`).
A call is taken for stranded only if it is in a context whose calls are
parked (`fs.park_contexts`), is not one this controller handles, began
before this controller started or STRANDED_AFTER_SECONDS ago (or was lost by
this controller with its event socket), and, by its variables (asked per
call), the dialplan parked it (not a leg a bridge dialled) and neither a
person answered it nor it is leaving a message: a call that reached this
controller, or may still, is never moved.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from bizpbx import fs_vocabulary as fs
from bizpbx.esl.aio import InboundClient
from bizpbx.esl.errors import EslError
from bizpbx.fs_vocabulary import Var

log = logging.getLogger(__name__)

CHANNELS_COMMAND = "show channels as json"
CONNECTION_POLL_SECONDS = 0.5
ASK_SECONDS = 10.0
SWEEP_SECONDS = 30.0
STRANDED_AFTER_SECONDS = 30.0
# Asked of each candidate: whether the dialplan parked it (a leg a bridge dialled is not its
# caller's), a person answered it (the bridge is the switch's), or it is leaving a message.
PARKED_AND_SETTLED = f"${{variable_{Var.DIRECTION}}}|${{variable_{Var.ANSWERED_BY}}}|${{variable_{Var.VOICEMAIL}}}"


@dataclass(frozen=True)
class StrandedCall:
    uuid: str
    destination: str
    context: str

    def state_query(self) -> str:
        return f"eval uuid:{self.uuid} {PARKED_AND_SETTLED}"

    @staticmethod
    def left_unfinished(state: str) -> bool:
        """From `state_query`'s reply: parked by the dialplan, and neither answered nor in voicemail."""
        fields = state.strip().split("|")
        if len(fields) != 3:  # not the expression's expansion: the switch's -ERR
            return False
        direction, answered_by, voicemail = fields
        return bool(direction) and not answered_by and not voicemail

    def transfer_command(self) -> str:
        return fs.hand_back(self.uuid, self.destination, self.context)


def stranded_calls(channels_json: str, began_before: float, handled: Collection[str], lost: Collection[str], park_contexts: Collection[str]) -> list[StrandedCall]:
    """The calls in `show channels as json` in a context of `park_contexts` that are not
    `handled` and began before `began_before` or are among the `lost`.

    Raises ValueError, naming what is wrong, for an answer that is not the switch's channel list."""
    try:
        listing = json.loads(channels_json) if channels_json.strip() else {}
    except json.JSONDecodeError as error:
        raise ValueError(f"{CHANNELS_COMMAND}: not JSON ({error.msg} at {error.pos}): {channels_json[:80]!r}") from None
    if not isinstance(listing, dict):
        raise ValueError(f"{CHANNELS_COMMAND}: not an object: {channels_json[:80]!r}")
    found = []
    for number, row in enumerate(listing.get("rows") or []):
        try:
            if row["context"] not in park_contexts or row["uuid"] in handled:
                continue
            if row["uuid"] in lost or float(row["created_epoch"]) < began_before:
                found.append(StrandedCall(row["uuid"], row["dest"], row["context"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{CHANNELS_COMMAND}: row {number}: {type(error).__name__} {error}") from None
    return found


class StrandedCalls:
    def __init__(self, started_at: float, handled: Callable[[], Collection[str]], lost: set[str], park_contexts: Callable[[], Collection[str]]) -> None:
        self._started_at = started_at
        self._handled = handled
        self._lost = lost  # the parked calls' (ParkedCalls.lost): emptied here
        self._park_contexts = park_contexts
        self.taken_back = 0  # calls sent to the fallback

    async def take_back(self, inbound: InboundClient) -> None:
        try:
            listing = await asyncio.wait_for(inbound.api(CHANNELS_COMMAND), ASK_SECONDS)
            began_before = max(self._started_at, time.time() - STRANDED_AFTER_SECONDS)
            calls = stranded_calls(listing, began_before, self._handled(), self._lost, self._park_contexts())
        except (TimeoutError, OSError, EslError, ValueError) as error:
            log.warning("stranded calls not looked for: %s", str(error) or type(error).__name__)
            return
        self._lost.clear()  # those still up are listed; the others ended
        for call in calls:
            if not call.left_unfinished(await inbound.api(call.state_query())):
                continue
            reply = await inbound.api(call.transfer_command())
            if reply.startswith("+OK"):
                self.taken_back += 1
                log.warning("a call left parked without a controller goes to the dialplan's fallback", extra={"call_uuid": call.uuid})
            else:
                log.warning("a call left parked could not be sent to the fallback: %s", reply.strip(), extra={"call_uuid": call.uuid})

    async def follow(self, events: InboundClient, asking: InboundClient) -> None:
        """Look whenever the event socket has (re)connected, and every SWEEP_SECONDS while it is
        up; the switch is asked on `asking` (its channel list is slow under load)."""
        looked, last = 0, time.monotonic()
        while True:
            if events.connected and asking.connected and (events.connections != looked or time.monotonic() - last >= SWEEP_SECONDS):
                looked, last = events.connections, time.monotonic()
                await self.take_back(asking)
            await asyncio.sleep(CONNECTION_POLL_SECONDS)
