"""The click-to-call API for the CRM: JSON over HTTP/1.1 on the controller.

    POST   /v1/calls                          {organization, extension, number, reference}
    DELETE /v1/calls/{uuid}                   hang the call up
    POST   /v1/calls/{uuid}/transfer          {to, attended}: blind transfer of the other party
    GET    /v1/organizations/{id}/calls       the calls the controller is handling

Placing a call checks that the employee's phone is registered (409 if not),
then originates it (the controller's inbound event socket, `bgapi originate`:
answered 202 once the switch took the job, not when the phone answers) into
its organization's phones context with
the client's number as the destination: once the employee answers, the call
goes the way a number dialled on that phone goes, through the controller, so
the toll-fraud guard, the plan, rating and call events apply as to any call
out (checked here first too, to refuse at once). The CRM's reference rides
on the channel (`bizpbx_reference`) into `call.started`.

A blind transfer moves the other party of an employee's call (the client of
a click-to-call or of a call out; a call from outside is refused, 409) to an
extension of the organization through its phones context, so the controller
routes it as a call to that extension (200). An attended transfer has the
employee consult an employee of the organization whose phone is registered
(409 if none) while the client is held, then hang up to connect them (202,
"consulting": what becomes of it comes as the call's events). How, and how the
client's time after a transfer is billed once: `bizpbx.controller.transfers`.
Requests are checked by `bizpbx.controller.call_requests`; the Authorization
header is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuid_module
from collections.abc import Callable
from typing import Any

from bizpbx import fs_vocabulary as fs
from bizpbx.controller import transfers
from bizpbx.controller.call_requests import Client, Transfer, authenticate, authorize, call_uuid, consult_target, place_call, read_json, transfer
from bizpbx.controller.executor import CallHandler
from bizpbx.controller.http_server import HttpError, Request, Response
from bizpbx.esl import commands
from bizpbx.esl.aio import InboundClient
from bizpbx.esl.errors import EslError
from bizpbx.settings import Site

log = logging.getLogger(__name__)

RING_SECONDS = 30  # how long the employee's phone rings before the API's call is given up
ENDED_WAIT_SECONDS = 10.0  # how long call.transferred waits for the employee leg's call.ended


class CallApiEndpoint:
    prefix = "/v1/"

    def __init__(self, site: Site, handler: CallHandler, inbound: InboundClient, stored: Callable[[str], bool]) -> None:
        self.site = site
        self.handler = handler
        self.inbound = inbound
        self._stored = stored  # whether a call (by UUID) is in the ledger, its call.ended sent with it
        self.consultations: set[asyncio.Task] = set()  # attended transfers followed until the employee's leg ends

    async def answer(self, request: Request) -> Response:
        status, answer = await self._route(request.method, request.path, request.headers.get("authorization"), request.body)
        return Response.json(status, answer)

    async def _route(self, method: str, path: str, authorization: str | None, body: bytes) -> tuple[int, Any]:
        parts = path.strip("/").split("/")  # ["v1", …]: the listener hands over /v1/ paths only
        client = authenticate(self.site, authorization)
        if parts[1:] == ["calls"] and method == "POST":
            return await self._place(client, read_json(body))
        if len(parts) == 3 and parts[1] == "calls" and method == "DELETE":
            return await self._hang_up(client, call_uuid(parts[2]))
        if len(parts) == 4 and parts[1] == "calls" and parts[3] == "transfer" and method == "POST":
            return await self._transfer(client, call_uuid(parts[2]), read_json(body))
        if len(parts) == 4 and parts[1] == "organizations" and parts[3] == "calls" and method == "GET":
            authorize(self.site, client, parts[2])
            calls = [{"uuid": u, "answered": s.answered} for u, s in sorted(self.handler.active.items()) if s.org_id == parts[2]]
            return 200, {"organization": parts[2], "calls": calls}
        raise HttpError(404 if method in ("GET", "POST", "DELETE") else 405, f"no {method} {path}")

    async def _place(self, client: Client, data: dict[str, Any]) -> tuple[int, Any]:
        request = place_call(self.site, client, data)
        refusal = self.handler.guard_refusal(request.organization, request.number)
        if refusal is not None:
            raise HttpError(403, f"refused by the toll-fraud guard ({refusal.rule}): {refusal.reason}")
        new = str(uuid_module.uuid4())
        variables = [
            f"origination_uuid={new}",
            # The employee's phone shows whom it is about to call.
            f"origination_caller_id_name={request.number}",
            f"origination_caller_id_number={request.extension}",
            f"originate_timeout={RING_SECONDS}",
            # The switch calls the leg it dialled `outbound`: marked, its hang-up reaches the ledger at once.
            f"{fs.Var.LEDGER_LEG}=true",
        ]
        if request.reference is not None:
            variables.append(f"{fs.Var.REFERENCE}={request.reference}")
        await self._registered(request.organization, request.extension)
        user = fs.user_id(request.organization, request.extension)
        command = f"originate {{{','.join(variables)}}}user/{user}@{self.handler.domain} {request.number} XML {fs.phones_context(request.organization)}"
        # The job's outcome comes as the call's events (the controller subscribes to no BACKGROUND_JOB).
        accepted = await self._switch(self.inbound.send(commands.bgapi(command)))
        if not accepted.ok:
            raise HttpError(503, f"the switch did not take the call: {accepted.reply_text}")
        log.info("click-to-call by %s: organization %s, extension %s", client.name, request.organization, request.extension, extra={"call_uuid": new})
        answer = {"uuid": new, "organization": request.organization, "extension": request.extension, "number": request.number, "reference": request.reference}
        return 202, {**answer, "status": "ringing"}

    async def _registered(self, org_id: str, extension: str) -> None:
        if self.handler.domain is None:
            raise HttpError(503, "the switch's SIP domain is unknown: set freeswitch.sip_domain or freeswitch.internal.ip")
        if not fs.is_registered(await self._api(fs.contact_query(fs.user_id(org_id, extension), self.handler.domain))):
            raise HttpError(409, f"extension {extension} of organization {org_id} has no phone registered")

    async def _organization_of(self, client: Client, uuid: str) -> str:
        org_id = await transfers.value(self._api, uuid, fs.Var.ORG_ID)
        if org_id is None:
            raise HttpError(404, f"no call {uuid} in progress")
        authorize(self.site, client, org_id)
        return org_id

    async def _hang_up(self, client: Client, uuid: str) -> tuple[int, Any]:
        await self._organization_of(client, uuid)
        reply = await self._api(f"uuid_kill {uuid} NORMAL_CLEARING")
        if not reply.startswith("+OK"):
            raise HttpError(404, f"no call {uuid} in progress ({reply.strip()})")
        return 200, {"uuid": uuid, "status": "hung up"}

    async def _transfer(self, client: Client, uuid: str, data: dict[str, Any]) -> tuple[int, Any]:
        request = transfer(data)
        org_id = await self._organization_of(client, uuid)
        consult_target(self.site, org_id, request)
        if await transfers.value(self._api, uuid, fs.Var.DIRECTION) == "inbound":
            # The call's own leg is the client's here, and a second routing of it would start it anew.
            raise HttpError(409, f"call {uuid} came from outside: the API transfers the client of an employee's call (click-to-call, a call out), not a call from outside")
        if request.attended:
            return await self._consult(uuid, org_id, request)
        tell = await self._teller(uuid, request)
        reply, client_leg = await transfers.blind(self._api, uuid, org_id, request.to)
        if not reply.startswith("+OK"):
            raise HttpError(409, f"call {uuid} could not be transferred: {reply.strip()}")
        tell(f"blind transfer asked by {client.name}", client_leg)
        return 200, {"uuid": uuid, "to": request.to, "attended": False, "status": "transferred", "continued_as": client_leg}

    async def _consult(self, uuid: str, org_id: str, request: Transfer) -> tuple[int, Any]:
        await self._registered(org_id, request.to)
        # Read now: the employee's leg is gone when they are needed.
        call, tell = await transfers.carried_over(self._api, uuid), await self._teller(uuid, request)
        if call is not None:  # who talks with the client once it is done (a blind transfer's is set as the call is routed)
            call[fs.Var.ANSWERED_BY] = f"extension:{request.to}"
        reply, client, target = await transfers.attended(self._api, uuid, org_id, request.to)
        if client is None or not reply.startswith("+OK"):
            raise HttpError(409, f"call {uuid} could not be transferred: {reply.strip()}")
        log.info("attended transfer to %s: consulting (target leg %s)", request.to, target, extra={"call_uuid": uuid})
        task = asyncio.ensure_future(self._follow(uuid, client, target, call, request, tell))
        self.consultations.add(task)
        task.add_done_callback(self.consultations.discard)
        return 202, {"uuid": uuid, "to": request.to, "attended": True, "status": "consulting", "continued_as": client}

    async def _follow(self, uuid: str, client: str, target: str, call: dict[str, str] | None, request: Transfer, tell) -> None:
        try:
            done = await transfers.follow_attended(self._api, uuid, client, target, call)
        except (HttpError, EslError, OSError) as error:  # the switch went away: its calls with it
            log.warning("attended transfer to %s not followed to its end: %s", request.to, error, extra={"call_uuid": uuid})
            return
        log.info("attended transfer to %s %s", request.to, "completed" if done else "not completed: the employee kept the call", extra={"call_uuid": uuid})
        if done:
            await self._ended(uuid)
            tell("attended transfer: the employee hung up after consulting", client)

    async def _ended(self, uuid: str) -> None:
        """Until the employee's leg is stored with its call.ended, for call.transferred to come after
        it: this poll saw the leg gone, its hang-up comes by the event consumer. Not past
        ENDED_WAIT_SECONDS (a consumer that is not connected stores it later, from the CDR)."""
        deadline = asyncio.get_running_loop().time() + ENDED_WAIT_SECONDS
        while not self._stored(uuid) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(transfers.WATCH_SECONDS)

    async def _teller(self, uuid: str, request: Transfer):
        """What tells the CRM, once the transfer is done, of call.transferred on the API's call: from
        its employee to the extension the client went to (a call this controller is not handling: nothing)."""
        state = self.handler.active.get(uuid)
        user = await transfers.value(self._api, uuid, fs.Var.USER_ID)
        source = f"extension:{user.partition('-')[2]}" if user else "hangup"

        def tell(reason: str, continued_as: str | None) -> None:
            if state is not None:
                self.handler.transferred(state, source, f"extension:{request.to}", reason, continued_as)

        return tell

    async def _api(self, command: str) -> str:
        return await self._switch(self.inbound.api(command))

    async def _switch(self, command):
        if not self.inbound.connected:  # it would wait for the connection: the CRM is told at once
            command.close()
            raise HttpError(503, "the switch is not reachable: the controller's event socket is not connected")
        try:
            return await command
        except (EslError, OSError) as error:
            raise HttpError(503, f"the switch is not reachable: {error}") from None
