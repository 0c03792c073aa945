"""Calls left parked in the `socket` application with no controller at the other end.

FreeSWITCH 1.10.12 parks a call whose outbound socket connection was accepted
and then lost before the controller's `connect` (the controller killed during
that handshake: "Socket Error!" at mod_event_socket.c:2707, then
`switch_ivr_park`): nothing resumes it, the dialplan's fallback never runs and
the caller waits until giving up. A call the controller was running when it
died comes back to the same park once its application ends.

The same park awaits a call whose `connect` a running controller was too busy
to send before the switch gave up on it (seen under overload: 24 calls at once).

Whenever the event socket (re)connects, and every SWEEP_SECONDS while it is
up, the controller lists the switch's channels and sends each such call
through its dialplan extension again (`uuid_transfer`): the socket
application there reaches this controller, or the fallback when it is not
listening. A call is taken for stranded only if it is in `socket`, is not one
this controller handles, and began before this controller started or
STRANDED_AFTER_SECONDS ago (longer than the switch waits for `connect`): a
call that reached this controller, or may still, is never moved.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from bizpbx.esl.aio import InboundClient
from bizpbx.esl.errors import EslError

log = logging.getLogger(__name__)

CHANNELS_COMMAND = "show channels as json"
CONNECTION_POLL_SECONDS = 0.5
ASK_SECONDS = 10.0
SWEEP_SECONDS = 30.0
STRANDED_AFTER_SECONDS = 30.0


@dataclass(frozen=True)
class StrandedCall:
    uuid: str
    destination: str
    context: str

    def transfer_command(self) -> str:
        return f"uuid_transfer {self.uuid} {self.destination} XML {self.context}"


def stranded_calls(channels_json: str, began_before: float, handled: Collection[str]) -> list[StrandedCall]:
    """The calls in `show channels as json` in `socket` that began before `began_before` and are not `handled`.

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
            if row["application"] != "socket" or row["uuid"] in handled or float(row["created_epoch"]) >= began_before:
                continue
            found.append(StrandedCall(row["uuid"], row["dest"], row["context"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{CHANNELS_COMMAND}: row {number}: {type(error).__name__} {error}") from None
    return found


class StrandedCalls:
    def __init__(self, started_at: float, handled: Callable[[], Collection[str]]) -> None:
        self._started_at = started_at
        self._handled = handled
        self.taken_back = 0  # calls sent through their extension again

    async def take_back(self, inbound: InboundClient) -> None:
        try:
            listing = await asyncio.wait_for(inbound.api(CHANNELS_COMMAND), ASK_SECONDS)
            began_before = max(self._started_at, time.time() - STRANDED_AFTER_SECONDS)
            calls = stranded_calls(listing, began_before, self._handled())
        except (TimeoutError, OSError, EslError, ValueError) as error:
            log.warning("stranded calls not looked for: %s", str(error) or type(error).__name__)
            return
        for call in calls:
            reply = await inbound.api(call.transfer_command())
            if reply.startswith("+OK"):
                self.taken_back += 1
                log.warning("a call left parked in the socket application is routed again", extra={"call_uuid": call.uuid})
            else:
                log.warning("a call left parked could not be routed again: %s", reply.strip(), extra={"call_uuid": call.uuid})

    async def follow(self, inbound: InboundClient) -> None:
        """Look whenever the event socket has (re)connected, and every SWEEP_SECONDS while it is up."""
        looked, last = 0, time.monotonic()
        while True:
            if inbound.connected and (inbound.connections != looked or time.monotonic() - last >= SWEEP_SECONDS):
                looked, last = inbound.connections, time.monotonic()
                await self.take_back(inbound)
            await asyncio.sleep(CONNECTION_POLL_SECONDS)
