"""Transfers of a call asked through the click-to-call API, done by the switch.

The API's call is the employee's leg; the other party (the client) is the leg it is bridged
with (`signal_bond`). A blind transfer sends the client's leg to an extension of the
organization through its phones context (`uuid_transfer -bleg`), where the controller routes
it as a call to that extension. An attended transfer runs mod_dptools' `att_xfer` on the
employee's leg, in the middle of its bridge (`uuid_broadcast … aleg`; the executor's bridge is
not event-locked so that it runs there): the client hears the hold music (the employee's
phone carries its organization's, else the switch's), the employee talks with the target;
hanging up then connects the client with the target (att_xfer bridges them as the employee's
leg hangs up), while a target that does not answer within CONSULT_RING_SECONDS, or hangs up,
gives the employee back to the client.

Accounting: the switch writes a CDR for the employee's leg, which bills the call until that
leg ends. A client's leg that carries on after it (the transfer done) is a call the switch
dialled, so neither a CDR (legs=a) nor the event socket's filter would see it: it is marked
a ledger leg, billed from the moment the employee's leg left it (`bizpbx_billed_from`), as
the same outbound call of the organization (direction, number and trunk taken from the
employee's leg), so the client's time is billed once, whoever talks with them. After a
blind transfer the switch writes that leg's CDR (the transfer made it a call of the dialplan);
after an attended one it writes none (the leg stays one it dialled), so that part of the call
is rated from its hang-up event alone: a controller not connected when it ends misses it.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuid_module
from collections.abc import Awaitable, Callable

from bizpbx import fs_vocabulary as fs
from bizpbx.fs_vocabulary import Var

Api = Callable[[str], Awaitable[str]]  # an API command to the switch, its reply text

NO_SUCH_CHANNEL = ("-ERR", "_undef_")
CONSULT_RING_SECONDS = 20  # how long the target's phone rings during an attended transfer
WATCH_SECONDS = 0.5  # how often an attended transfer's employee leg is checked for its end
# What the outbound call of the employee's leg says about its client, for the client's leg.
CARRIED_OVER = (Var.ORG_ID, Var.DIRECTION, Var.CALLED, Var.TRUNK)


def attended_dial(org_id: str, extension: str, target_uuid: str) -> str:
    """att_xfer's argument: the target's phone, its leg named by `target_uuid`, ringing a bounded time.
    (The switch's own leg timer is not relied on: `follow_attended` ends an unanswered leg itself.)"""
    return fs.user_dial(org_id, extension, [f"origination_uuid={target_uuid}", f"leg_timeout={CONSULT_RING_SECONDS}"])


async def value(api: Api, uuid: str, variable: str) -> str | None:
    """A channel variable (None: unset, or no such channel)."""
    text = (await api(f"uuid_getvar {uuid} {variable}")).strip()
    return None if not text or text.startswith(NO_SUCH_CHANNEL) else text


async def client_leg(api: Api, employee_leg: str) -> str | None:
    return await value(api, employee_leg, "signal_bond")


async def carried_over(api: Api, employee_leg: str) -> dict[str, str] | None:
    """The variables the client's leg takes from an outbound call's employee leg (None: not an outbound call)."""
    values = {variable: await value(api, employee_leg, variable) for variable in CARRIED_OVER}
    if values[Var.DIRECTION] != "outbound":
        return None  # an internal call is free, an inbound one is billed on the caller's own leg
    return {str(variable): text for variable, text in values.items() if text}


async def carry_on(api: Api, client: str, call: dict[str, str]) -> str:
    """Mark the client's leg as the call going on from now; the switch's reply."""
    marks = {**call, Var.LEDGER_LEG: "true", Var.BILLED_FROM: str(int(time.time()))}
    return await api(f"uuid_setvar_multi {client} {';'.join(f'{name}={text}' for name, text in marks.items())}")


async def blind(api: Api, employee_leg: str, org_id: str, to: str) -> tuple[str, str | None]:
    """Send the client to extension `to`: (the switch's reply to the transfer, the client's leg)."""
    client = await client_leg(api, employee_leg)
    call = await carried_over(api, employee_leg) if client else None
    if client and call:
        await carry_on(api, client, call)
    return await api(f"uuid_transfer {employee_leg} -bleg {to} XML {fs.phones_context(org_id)}"), client


async def attended(api: Api, employee_leg: str, org_id: str, to: str) -> tuple[str, str | None, str]:
    """Start the consultation: (the switch's reply, the client's leg, the target's leg). The client
    hears the hold music of the employee's phone (its organization's, or the switch's) meanwhile."""
    target = str(uuid_module.uuid4())
    client = await client_leg(api, employee_leg)
    if client is None:
        return "-ERR the call is not bridged with anyone", None, target
    music = await value(api, employee_leg, "hold_music")
    if music:
        # att_xfer suspends the client's side of the bridge: without this it hears silence (holdb
        # plays nothing once the bridge has unbridged the leg for the broadcast). `follow_attended` stops it.
        await api(f"uuid_broadcast {client} playback::{music} aleg")
    reply = await api(f"uuid_broadcast {employee_leg} att_xfer::{attended_dial(org_id, to, target)} aleg")
    return reply, client, target


async def follow_attended(api: Api, employee_leg: str, client: str, target: str, call: dict[str, str] | None, sleep=asyncio.sleep) -> bool:
    """Until the employee's leg ends: a target still ringing after CONSULT_RING_SECONDS is given
    up (the employee is back with the client); once the employee's leg is gone, a client left
    bridged with the target carries the call on. True when the transfer was completed.

    The client's hold music stops when the consultation is over: att_xfer names the held leg
    (soft_holding_uuid) from its start to its end."""
    ring_deadline: float | None = time.monotonic() + CONSULT_RING_SECONDS
    consulting, held = False, True
    while (await api(f"uuid_exists {employee_leg}")).strip() == "true":
        holding = await value(api, employee_leg, "soft_holding_uuid") is not None
        consulting = consulting or holding
        if ring_deadline is not None and time.monotonic() > ring_deadline:
            if await value(api, target, "endpoint_disposition") != "ANSWER":
                await api(f"uuid_kill {target} NO_ANSWER")
            ring_deadline = None
        if held and not holding and (consulting or ring_deadline is None):
            await api(f"uuid_break {client} all")  # back with the employee
            held = False
        await sleep(WATCH_SECONDS)
    if held:
        await api(f"uuid_break {client} all")
    if await value(api, target, "att_xfer_result") != "success" or await value(api, client, "signal_bond") != target:
        return False
    if call is not None:
        await carry_on(api, client, call)
    return True
