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

A transfer moves the other party of the call (`uuid_transfer -bleg`) to an
extension of the organization through its phones context, so the controller
routes it as a call to that extension. Attended transfers are left to the
phones (501). Requests are checked by `bizpbx.controller.call_requests`; the
Authorization header is never logged.
"""

from __future__ import annotations

import logging
import uuid as uuid_module
from typing import Any

from bizpbx import fs_vocabulary as fs
from bizpbx.controller.call_requests import Client, authenticate, authorize, call_uuid, place_call, read_json, transfer
from bizpbx.controller.executor import CallHandler
from bizpbx.controller.http_server import HttpError, Request, Response
from bizpbx.esl import commands
from bizpbx.esl.aio import InboundClient
from bizpbx.esl.errors import EslError
from bizpbx.settings import Site

log = logging.getLogger(__name__)

RING_SECONDS = 30  # how long the employee's phone rings before the API's call is given up
NO_SUCH_CHANNEL = ("-ERR", "_undef_")


class CallApiEndpoint:
    prefix = "/v1/"

    def __init__(self, site: Site, handler: CallHandler, inbound: InboundClient) -> None:
        self.site = site
        self.handler = handler
        self.inbound = inbound

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
        if self.handler.domain is None:
            raise HttpError(503, "the switch's SIP domain is unknown: set freeswitch.sip_domain or freeswitch.internal.ip")
        new = str(uuid_module.uuid4())
        variables = [
            f"origination_uuid={new}",
            # The employee's phone shows whom it is about to call.
            f"origination_caller_id_name={request.number}",
            f"origination_caller_id_number={request.extension}",
            f"originate_timeout={RING_SECONDS}",
        ]
        if request.reference is not None:
            variables.append(f"{fs.Var.REFERENCE}={request.reference}")
        user = fs.user_id(request.organization, request.extension)
        if not fs.is_registered(await self._switch(self.inbound.api(fs.contact_query(user, self.handler.domain)))):
            raise HttpError(409, f"extension {request.extension} of organization {request.organization} has no phone registered")
        command = f"originate {{{','.join(variables)}}}user/{user}@{self.handler.domain} {request.number} XML {fs.phones_context(request.organization)}"
        # The job's outcome comes as the call's events (the controller subscribes to no BACKGROUND_JOB).
        accepted = await self._switch(self.inbound.send(commands.bgapi(command)))
        if not accepted.ok:
            raise HttpError(503, f"the switch did not take the call: {accepted.reply_text}")
        log.info("click-to-call by %s: organization %s, extension %s", client.name, request.organization, request.extension, extra={"call_uuid": new})
        answer = {"uuid": new, "organization": request.organization, "extension": request.extension, "number": request.number, "reference": request.reference}
        return 202, {**answer, "status": "ringing"}

    async def _organization_of(self, client: Client, uuid: str) -> str:
        org_id = (await self._switch(self.inbound.api(f"uuid_getvar {uuid} {fs.Var.ORG_ID}"))).strip()
        if not org_id or org_id.startswith(NO_SUCH_CHANNEL):
            raise HttpError(404, f"no call {uuid} in progress")
        authorize(self.site, client, org_id)
        return org_id

    async def _hang_up(self, client: Client, uuid: str) -> tuple[int, Any]:
        await self._organization_of(client, uuid)
        reply = await self._switch(self.inbound.api(f"uuid_kill {uuid} NORMAL_CLEARING"))
        if not reply.startswith("+OK"):
            raise HttpError(404, f"no call {uuid} in progress ({reply.strip()})")
        return 200, {"uuid": uuid, "status": "hung up"}

    async def _transfer(self, client: Client, uuid: str, data: dict[str, Any]) -> tuple[int, Any]:
        request = transfer(data)
        org_id = await self._organization_of(client, uuid)
        reply = await self._switch(self.inbound.api(f"uuid_transfer {uuid} -bleg {request.to} XML {fs.phones_context(org_id)}"))
        if not reply.startswith("+OK"):
            raise HttpError(409, f"call {uuid} could not be transferred: {reply.strip()}")
        return 200, {"uuid": uuid, "to": request.to, "attended": False, "status": "transferred"}

    async def _switch(self, command):
        if not self.inbound.connected:  # it would wait for the connection: the CRM is told at once
            command.close()
            raise HttpError(503, "the switch is not reachable: the controller's event socket is not connected")
        try:
            return await command
        except (EslError, OSError) as error:
            raise HttpError(503, f"the switch is not reachable: {error}") from None
