"""Running a routing plan on one call of FreeSWITCH's outbound socket.

A small interpreter: each step becomes one or two dialplan applications
(`execute` with event-lock, so they run in order) and the plan moves on by
their result. A bridge runs with continue_on_fail, so a failed leg comes back
here with its `originate_disposition`; the controller keeps its own ring
deadline and cancels the legs itself, because the switch's leg timer cannot
be relied on (FREESWITCH-FACTS.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuid_module
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from bizpbx import fs_names
from bizpbx.controller import call_events
from bizpbx.controller.call_events import header_text
from bizpbx.controller.guard import Refusal, check_outbound, day_bounds
from bizpbx.controller.metrics import Metrics
from bizpbx.dialplan import BUSY_CAUSES, NO_ANSWER_CAUSES  # the static fallback reads dispositions the same way
from bizpbx.esl.errors import EslError
from bizpbx.esl.events import Event
from bizpbx.esl.outbound import OutboundSession
from bizpbx.rating import Rater
from bizpbx.routing import (
    Answer,
    Bridge,
    Call,
    Collect,
    Hangup,
    Leg,
    Menu,
    Outcome,
    Plan,
    Play,
    Source,
    Voicemail,
    route,
    route_after_digits,
    route_menu_choice,
)
from bizpbx.settings import Site

log = logging.getLogger(__name__)

ANSWERED_DIALSTATUS = "ANSWER"
NOT_REGISTERED = "error/user_not_registered"
ENTERED_ID_VARIABLE = "bizpbx_entered_id"
MENU_KEY_VARIABLE = "bizpbx_menu_key"


@dataclass
class CallState:
    """What the interpreter learnt about its call so far."""

    uuid: str
    org_id: str | None
    site: Site  # the site when the call began: a reload changes new calls only
    rater: Rater
    answered: bool = False
    transfers: int = 0
    outbound_org: str | None = None  # counted among its organization's outbound calls


class CallHandler:
    """Handles every call the socket application hands over (one instance per controller)."""

    def __init__(
        self,
        site: Site,
        rater: Rater,
        spend_today: Callable[[str, int, int], Decimal],
        metrics: Metrics,
        emit: Callable[[call_events.CallEvent], None],
        trunk_failed: Callable[[str, str], None] = lambda trunk, cause: None,
    ) -> None:
        self._spend_today = spend_today
        self._metrics = metrics
        self._emit = emit
        self._trunk_failed = trunk_failed
        self.use(site, rater)
        self.outbound_in_progress: Counter[str] = Counter()
        self.active: set[str] = set()
        self.draining = False

    def use(self, site: Site, rater: Rater) -> None:
        """Route calls that begin from now on by `site` (calls in progress keep theirs)."""
        self._site = site
        self._rater = rater
        self._domain = site.freeswitch.sip_domain or (str(site.freeswitch.internal.ip) if site.freeswitch.internal.ip else None)

    async def __call__(self, session: OutboundSession) -> None:
        call = call_from_channel(session.channel_data)
        org_id = call.org_id or header_text(session.channel_data, "variable_bizpbx_org_id") or None
        state = CallState(call.uuid, org_id, self._site, self._rater)
        self._metrics.calls_total.inc()
        self._emit(call_events.started(session.channel_data))
        if self.draining:
            # Shutting down: hand the call back; the dialplan's static fallback takes it.
            log.info("shutting down: call left to the dialplan's fallback", extra={"call_uuid": call.uuid})
            return
        self.active.add(call.uuid)
        self._metrics.active_calls.set(len(self.active))
        try:
            plan = self._timed(lambda: route(call, state.site, datetime.now(timezone.utc)))
            log.info("routing: %s", " → ".join(step.action for step in plan.steps), extra={"call_uuid": call.uuid})
            await session.execute("set", "continue_on_fail=true")
            await session.execute("set", "hangup_after_bridge=true")
            await self._run(session, call, state, plan)
        except EslError as error:
            log.info("call ended while being handled: %s", error, extra={"call_uuid": call.uuid})
        finally:
            if state.outbound_org is not None:
                self.outbound_in_progress[state.outbound_org] -= 1
            self.active.discard(call.uuid)
            self._metrics.active_calls.set(len(self.active))

    def _timed(self, decide: Callable[[], Plan]) -> Plan:
        started = time.perf_counter()
        plan = decide()
        self._metrics.routing_seconds.observe(time.perf_counter() - started)
        return plan

    async def _run(self, session: OutboundSession, call: Call, state: CallState, plan: Plan) -> None:
        index = 0
        if plan.org_id and plan.org_id != state.org_id:
            await self._set_org(session, state, plan.org_id)
        while not _caller_gone(session):
            step = plan.steps[index]
            if isinstance(step, Answer):
                if not state.answered:
                    await session.execute("answer")
                    state.answered = True
                index += 1
            elif isinstance(step, Play):
                await session.execute("playback", step.sound)
                index += 1
            elif isinstance(step, Hangup):
                log.info("hangup %s: %s", step.cause, step.reason, extra={"call_uuid": call.uuid})
                await session.hangup(step.cause)
                return
            elif isinstance(step, Voicemail):
                self._transferred(state, f"voicemail:{step.extension}", step.reason)
                if not state.answered:
                    # As the fallback dialplan does: unanswered, voicemail ran in early media (the
                    # lab's call hung there, a message would be left on a call never billed as answered).
                    await session.execute("answer")
                    state.answered = True
                await session.execute("voicemail", f"{fs_names.VOICEMAIL_PROFILE} ${{domain}} {fs_names.user_id(step.org_id, step.extension)}")
                await session.hangup("NORMAL_CLEARING")
                return
            elif isinstance(step, Collect):
                digits = await self._collect(session, step)
                plan = self._timed(lambda: route_after_digits(call, state.site, datetime.now(timezone.utc), digits))
                if plan.org_id:
                    await self._set_org(session, state, plan.org_id)
                index = 0
            elif isinstance(step, Menu):
                key = await self._menu(session, step)
                plan = self._timed(lambda: route_menu_choice(call, state.site, datetime.now(timezone.utc), step, key))
                index = 0
            else:
                outcome = await self._bridge(session, call, state, step)
                if outcome is None:
                    return
                index = step.next_step(outcome)

    async def _set_org(self, session: OutboundSession, state: CallState, org_id: str) -> None:
        # The CDR carries the organization the caller chose (bizpbx.cdr).
        await session.execute("set", f"bizpbx_org_id={org_id}")
        state.org_id = org_id

    def _transferred(self, state: CallState, target: str, reason: str) -> None:
        state.transfers += 1
        self._emit(call_events.transferred(state.uuid, state.transfers, state.org_id, target, reason))

    async def _collect(self, session: OutboundSession, step: Collect) -> str:
        pattern = "^(" + "|".join(step.valid) + ")$" if step.valid else "^$"
        argument = (
            f"{step.min_digits} {step.max_digits} {step.max_attempts} {step.timeout_seconds * 1000} # "
            f"{step.prompt} {step.invalid_prompt} {ENTERED_ID_VARIABLE} {pattern}"
        )
        done = await session.execute("play_and_get_digits", argument)
        value = done.get(f"variable_{ENTERED_ID_VARIABLE}")
        return value if isinstance(value, str) and value in step.valid else ""

    async def _menu(self, session: OutboundSession, step: Menu) -> str | None:
        keys = [digit for digit, _ in step.options]
        terminator = next((t for t in "#*" if t not in keys), "none")
        pattern = "^[" + "".join("\\" + k if k in "*#" else k for k in keys) + "]$"
        argument = (
            f"1 1 {step.max_failures} {step.timeout_seconds * 1000} {terminator} "
            f"{step.greeting} {step.invalid_sound} {MENU_KEY_VARIABLE} {pattern}"
        )
        done = await session.execute("play_and_get_digits", argument)
        value = done.get(f"variable_{MENU_KEY_VARIABLE}")
        return value if isinstance(value, str) and value in keys else None

    async def _bridge(self, session: OutboundSession, call: Call, state: CallState, step: Bridge) -> Outcome | None:
        """Ring the step's legs; None when the call is over (answered, or the caller left)."""
        external = [leg for leg in step.legs if leg.external]
        if external:
            refusal = self._guard(state, external[0])
            if refusal is not None:
                await self._refuse(session, state, refusal)
                return None
            await self._mark_outbound(session, call, state, external[0])
        elif step.check_registration and self._domain and len(step.legs) == 1:
            leg = step.legs[0]
            contact = await session.api(f"sofia_contact {fs_names.user_id(leg.org_id, leg.extension)}@{self._domain}")
            if contact.strip().startswith(NOT_REGISTERED):
                log.info("%s is not registered", leg, extra={"call_uuid": call.uuid})
                return Outcome.UNAVAILABLE
        if step.action == "forward":
            self._transferred(state, str(step.target), step.reason)
        leg_uuids = [str(uuid_module.uuid4()) for _ in step.legs]
        dial = ",".join(self._dial_string(leg, leg_uuid, step.ring_seconds) for leg, leg_uuid in zip(step.legs, leg_uuids))
        bridging = asyncio.ensure_future(session.execute("bridge", dial))
        deadline_passed = False
        if step.ring_seconds is not None:
            done, _ = await asyncio.wait({bridging}, timeout=step.ring_seconds)
            if not done:
                deadline_passed = True
                for leg_uuid in leg_uuids:
                    await session.api(f"uuid_kill {leg_uuid} NO_ANSWER")
        result = await bridging
        outcome = _outcome(result, deadline_passed, session)
        if external and outcome is not None:
            self._trunk_failed(external[0].trunk, "NO_ANSWER" if deadline_passed else str(result.get("variable_originate_disposition") or "UNKNOWN"))
        return outcome

    def _guard(self, state: CallState, leg: Leg) -> Refusal | None:
        org = state.site.organizations[leg.org_id]
        since, until = day_bounds(datetime.now(timezone.utc), state.site.zone)
        return check_outbound(
            org.outbound,
            leg.org_id,
            leg.number or "",
            calls_in_progress=self.outbound_in_progress[leg.org_id],
            spent_today=self._spend_today(leg.org_id, since, until),
            price=state.rater.price_per_minute(leg.org_id, leg.number or ""),
        )

    async def _refuse(self, session: OutboundSession, state: CallState, refusal: Refusal) -> None:
        self._metrics.refused_calls.inc()
        log.warning("toll-fraud guard refused the call (%s): %s", refusal.rule, refusal.reason, extra={"call_uuid": state.uuid})
        if not state.answered:
            # Early media: the caller hears why, and a call that never reached the trunk is never
            # answered, so its CDR cannot bill it (answering here billed the prompt by the deck).
            await session.execute("pre_answer")
        await session.execute("playback", refusal.sound)
        await session.hangup("CALL_REJECTED")

    async def _mark_outbound(self, session: OutboundSession, call: Call, state: CallState, leg: Leg) -> None:
        if state.outbound_org is None:
            state.outbound_org = leg.org_id
            self.outbound_in_progress[leg.org_id] += 1
        if call.source is Source.PHONE:
            # The CDR of a call a phone places out rates it by the trunk's deck.
            for name, value in (("direction", "outbound"), ("called", leg.number), ("trunk", leg.trunk)):
                await session.execute("set", f"bizpbx_{name}={value}")

    def _dial_string(self, leg: Leg, leg_uuid: str, ring_seconds: int | None) -> str:
        options = [f"origination_uuid={leg_uuid}"]
        if ring_seconds is not None:
            options.append(f"leg_timeout={ring_seconds}")
        if leg.external:
            if leg.caller_id:
                options.append(f"origination_caller_id_number={leg.caller_id}")
            return f"[{','.join(options)}]{fs_names.gateway_dial(leg.trunk, leg.number)}"
        return f"[{','.join(options)}]user/{fs_names.user_id(leg.org_id, leg.extension)}@${{domain}}"


def _caller_gone(session: OutboundSession) -> bool:
    return session.closed or session.linger_notice is not None


def _outcome(result: Event, deadline_passed: bool, session: OutboundSession) -> Outcome | None:
    if result.get("variable_DIALSTATUS") == ANSWERED_DIALSTATUS or _caller_gone(session):
        return None
    if deadline_passed:
        return Outcome.NO_ANSWER
    disposition = result.get("variable_originate_disposition")
    if disposition in BUSY_CAUSES:
        return Outcome.BUSY
    if disposition in NO_ANSWER_CAUSES:
        return Outcome.NO_ANSWER
    if disposition == "ORIGINATOR_CANCEL":
        return None  # the caller hung up while it rang
    return Outcome.UNAVAILABLE


def call_from_channel(data) -> Call:
    """The call as the rendered dialplan handed it over (its bizpbx_* variables)."""
    uuid = header_text(data, "Unique-ID")
    org_id = header_text(data, "variable_bizpbx_org_id") or None
    caller = header_text(data, "Caller-Caller-ID-Number")
    if header_text(data, "variable_bizpbx_direction") == "inbound":
        destination = header_text(data, "variable_bizpbx_called") or header_text(data, "Caller-Destination-Number")
        return Call(Source.TRUNK, caller, destination, uuid=uuid)
    destination = header_text(data, "Caller-Destination-Number")
    if org_id is None:
        # Handed over without the dialplan's variables: the trunk side is the safe assumption.
        return Call(Source.TRUNK, caller, destination, uuid=uuid)
    return Call(Source.PHONE, caller, destination, org_id=org_id, uuid=uuid)
