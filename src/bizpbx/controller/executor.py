"""Running a routing plan on one call parked for the controller (`bizpbx.controller.parked_calls`).

A small interpreter: each step becomes one or two dialplan applications (`execute` with
event-lock, so they run in order; the variables a call needs at once go in one `multiset`, a
round trip to the switch each saved) and the plan moves on by their result. A bridge runs with
continue_on_fail, so a failed leg comes back here with its `originate_disposition`; the
controller keeps its own ring deadline and cancels the legs itself, because the switch's leg
timer cannot be relied on (FREESWITCH-FACTS.md).

Every leg is dialled with a UUID of the controller's, so the channel's CHANNEL_BRIDGE event
(`Bridge-B-Unique-ID`) says which leg a person answered: that is the call's `call.answered`, the
ring deadline no longer applies, and the controller lets go of the call: the bridge is the
switch's to finish, and the call stays the controller's until its hang-up comes (`CallHandler.hung_up`, from the event socket or the CDR files). Each
leg's answer sets who answered on the caller's channel (`bizpbx_answered_by`, by the switch itself:
`fs.answered_by_option`), so the hang-up event and the CDR carry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from bizpbx import fs_vocabulary as fs
from bizpbx.fs_vocabulary import Var
from bizpbx.controller import call_events
from bizpbx.controller.bridge_results import BRIDGED, answered_leg, answering_leg, unanswered_outcome, until_answered_call_ends
from bizpbx.controller.call_events import header_text
from bizpbx.controller.handover import call_from_channel, started_from_channel
from bizpbx.controller.guard import Refusal, check_outbound, day_bounds
from bizpbx.controller.outbound_calls import LocalOutboundCalls, OutboundCalls
from bizpbx.controller.metrics import Metrics
from bizpbx.controller.parked_calls import ParkedCall
from bizpbx.esl.errors import EslError
from bizpbx.esl.events import Event
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
    Pickup,
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

# The channel events the handler reads until answered: completions of its applications, and the bridge that tells who answered.
CHANNEL_EVENTS = ("CHANNEL_EXECUTE_COMPLETE", BRIDGED)


@dataclass
class CallState:
    """What the interpreter learnt about its call so far."""

    uuid: str
    org_id: str | None
    site: Site  # the site when the call began: a reload changes new calls only
    rater: Rater
    answered: bool = False  # by the switch (a menu, voicemail), or bridged
    sequence: int = 0  # events that may happen more than once on the call
    outbound_org: str | None = None  # counted among its organization's outbound calls
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)  # the switch said the call is over
    let_go: bool = False  # answered and let go: the switch carries it alone, its end is awaited


class CallHandler:
    """Handles every call parked for the controller (one instance per controller)."""

    def __init__(
        self,
        site: Site,
        rater: Rater,
        spend_today: Callable[[str, int, int], Decimal],
        metrics: Metrics,
        emit: Callable[[call_events.CallEvent], None],
        outbound_calls: OutboundCalls | None = None,
    ) -> None:
        self._spend_today, self._metrics, self._emit = spend_today, metrics, emit
        self.use(site, rater)
        self.outbound_calls = outbound_calls or LocalOutboundCalls()  # for the guard's concurrency limit
        self.active: dict[str, CallState] = {}  # the calls being handled, by UUID
        self.draining = False

    def use(self, site: Site, rater: Rater) -> None:
        """Route calls that begin from now on by `site` (calls in progress keep theirs)."""
        self._site, self._rater = site, rater
        # The directory's domain (vars.xml's): click-to-call's user/ dial string; with a cluster the
        # proxy's, whose dial-string sends the call through the proxy.
        addresses = (site.cluster.proxy.address if site.cluster else None, site.freeswitch.internal.ip)
        self.domain = site.freeswitch.sip_domain or next((str(a) for a in addresses if a), None)
        # Whether to ask the switch if a phone is registered: with a cluster the proxy knows, not the
        # switch (an unregistered phone is its 404, an unavailable cause, once the bridge tries it).
        self._switch_knows_registrations = site.cluster is None

    async def __call__(self, session: ParkedCall) -> None:
        arrived = time.perf_counter()
        call = call_from_channel(session.channel_data)
        state = CallState(call.uuid, call.org_id or header_text(session.channel_data, f"variable_{Var.ORG_ID}") or None, self._site, self._rater)
        self._metrics.call_started(header_text(session.channel_data, f"variable_{Var.DIRECTION}"))
        if self.draining:
            # Shutting down: left unfinished, the call goes to the dialplan's static fallback.
            self._emit(started_from_channel(session.channel_data, call, state.site, None))
            log.info("shutting down: call left to the dialplan's fallback", extra={"call_uuid": call.uuid})
            return
        if (previous := self.active.get(call.uuid)) is not None:
            previous.hung_up.set()  # the channel was parked again (transferred): its earlier handling is over
        self.active[call.uuid] = state
        self._metrics.active_calls.set(len(self.active))
        try:
            plan = route(call, state.site, datetime.now(timezone.utc))
            self._emit(started_from_channel(session.channel_data, call, state.site, plan))
            log.info("routing: %s", " → ".join(step.action for step in plan.steps), extra={"call_uuid": call.uuid})
            # The dialplan set the bridges' settings before the park: an execute only for what it did not or the route changes.
            variables = {name: value for name, value in fs.BRIDGE_SETTINGS.items() if header_text(session.channel_data, f"variable_{name}") != value}
            if header_text(session.channel_data, f"variable_{Var.BILLED_FROM}"):
                variables[Var.DIRECTION] = "outbound"  # a client sent on by a transfer: the call out goes on (transfers)
            if plan.org_id and plan.org_id != state.org_id:
                variables[Var.ORG_ID] = plan.org_id  # the CDR carries the organization (bizpbx.cdr)
                state.org_id = plan.org_id
            if variables:
                await session.execute("multiset", fs.multiset(variables))
            self._metrics.routing_seconds.observe(time.perf_counter() - arrived)  # the first step goes next
            await self._run(session, call, state, plan)
        except EslError as error:
            log.info("call ended while being handled: %s", error, extra={"call_uuid": call.uuid})
        finally:
            if state.outbound_org is not None:
                self.outbound_calls.release(state.uuid)
            if self.active.get(call.uuid) is state:
                del self.active[call.uuid]
            self._metrics.active_calls.set(len(self.active))

    def hung_up(self, uuid: str) -> None:
        """The switch says the call `uuid` is over (its hang-up event, its CDR)."""
        if (state := self.active.get(uuid)) is not None:
            state.hung_up.set()

    async def _run(self, session: ParkedCall, call: Call, state: CallState, plan: Plan) -> None:
        index = 0
        await self._record(session, state, plan)
        while not session.over:
            step = plan.steps[index]
            if isinstance(step, Answer):
                if not state.answered:
                    await session.execute("answer")
                    state.answered = True
                index += 1
            elif isinstance(step, Play):
                await session.execute("playback", step.sound)
                index += 1
            elif isinstance(step, Pickup):
                # Left unfinished: the fallback's `intercept` takes the ringing call.
                log.info("call pickup left to the switch: %s", step.reason, extra={"call_uuid": call.uuid})
                return
            elif isinstance(step, Hangup):
                log.info("hangup %s: %s", step.cause, step.reason, extra={"call_uuid": call.uuid})
                await session.hangup(step.cause)
                return
            elif isinstance(step, Voicemail):
                box = f"voicemail:{step.extension}"
                if step.forwarded_from:
                    self.transferred(state, f"extension:{step.forwarded_from}", box, step.reason)
                # The hang-up event and the CDR tell the call ended in voicemail (a missed call).
                await session.execute("multiset", fs.multiset({Var.VOICEMAIL: step.extension, fs.VOICEMAIL_GREETING_ID: step.extension}))
                self._emit(call_events.voicemail(state.uuid, call_events.now(), state.org_id, self._party(state, step.org_id, box), step.reason))
                if not state.answered:
                    # As the fallback dialplan does: unanswered, voicemail ran in early media (the
                    # lab's call hung there, a message would be left on a call never billed as answered).
                    await session.execute("answer")
                    state.answered = True
                await session.execute("voicemail", fs.voicemail_box(step.org_id, step.extension))
                await session.hangup("NORMAL_CLEARING")
                return
            elif isinstance(step, Collect):
                digits = await self._collect(session, step)
                plan = route_after_digits(call, state.site, datetime.now(timezone.utc), digits)
                if plan.org_id:
                    await self._set_org(session, state, plan.org_id)
                    self._emit(call_events.organization_entered(state.uuid, plan.org_id))
                await self._record(session, state, plan)
                index = 0
            elif isinstance(step, Menu):
                state.sequence += 1
                self._emit(call_events.ivr(state.uuid, state.sequence, step.org_id, step.name))
                key = await self._menu(session, step)
                plan = route_menu_choice(call, state.site, datetime.now(timezone.utc), step, key)
                index = 0
            else:
                outcome = await self._bridge(session, call, state, step)
                if outcome is None:
                    return
                index = step.next_step(outcome)

    async def _record(self, session: ParkedCall, state: CallState, plan: Plan) -> None:
        """The plan's recording, as the dialplan arms it; not again where the dialplan armed it before
        the socket (the same steps would cost the switch two applications, and their events)."""
        if plan.recording is None or not plan.recording.record or header_text(session.channel_data, f"variable_{Var.RECORDING}"):
            return
        notice = state.site.recordings.notice if plan.recording.notice else None
        for application, data in fs.recording_steps(str(state.site.recordings.dir), notice, answered=state.answered):
            await session.execute(application, data)

    async def _set_org(self, session: ParkedCall, state: CallState, org_id: str) -> None:
        # The CDR carries the organization the caller chose (bizpbx.cdr).
        await session.execute("set", f"{Var.ORG_ID}={org_id}")
        state.org_id = org_id

    def _party(self, state: CallState, org_id: str | None, target: str) -> dict:
        return call_events.party(state.site, org_id, target)

    def transferred(self, state: CallState, source: str, target: str, reason: str, continued_as: str | None = None) -> None:
        state.sequence += 1
        source_party, target_party = self._party(state, state.org_id, source), self._party(state, state.org_id, target)
        event = call_events.transferred(state.uuid, state.sequence, state.org_id, source_party, target_party, reason, continued_as)
        self._emit(event)

    async def _collect(self, session: ParkedCall, step: Collect) -> str:
        pattern = "^(" + "|".join(step.valid) + ")$" if step.valid else "^$"
        fewest, most = fs.entry_digits(step.valid)
        argument = fs.play_and_get_digits(
            min_digits=fewest,
            max_digits=most,
            tries=step.max_attempts,
            timeout_ms=step.timeout_seconds * 1000,
            terminators="#",
            prompt=step.prompt,
            invalid_prompt=step.invalid_prompt,
            variable=Var.ENTERED_ID,
            pattern=pattern,
        )
        done = await session.execute("play_and_get_digits", argument)
        value = done.get(f"variable_{Var.ENTERED_ID}")
        return value if isinstance(value, str) and value in step.valid else ""

    async def _menu(self, session: ParkedCall, step: Menu) -> str | None:
        keys = [digit for digit, _ in step.options]
        terminator = next((t for t in "#*" if t not in keys), "none")
        pattern = "^[" + "".join("\\" + k if k in "*#" else k for k in keys) + "]$"
        argument = fs.play_and_get_digits(
            min_digits=1,
            max_digits=1,
            tries=step.max_failures,
            timeout_ms=step.timeout_seconds * 1000,
            terminators=terminator,
            prompt=step.greeting,
            invalid_prompt=step.invalid_sound,
            variable=Var.MENU_KEY,
            pattern=pattern,
        )
        done = await session.execute("play_and_get_digits", argument)
        value = done.get(f"variable_{Var.MENU_KEY}")
        return value if isinstance(value, str) and value in keys else None

    async def _bridge(self, session: ParkedCall, call: Call, state: CallState, step: Bridge) -> Outcome | None:
        """Ring the step's legs; None when the call is over (answered, or the caller left)."""
        external = [leg for leg in step.legs if leg.external]
        if external:
            refusal = self.guard_refusal(external[0].org_id, external[0].number or "", state)
            if refusal is not None:
                await self._refuse(session, state, refusal)
                return None
            await self._mark_outbound(session, call, state, external[0])
        elif step.check_registration and self._switch_knows_registrations and self.domain and len(step.legs) == 1:
            leg = step.legs[0]
            if not fs.is_registered(await session.api(fs.contact_query(fs.user_id(leg.org_id, leg.extension), self.domain))):
                log.info("%s is not registered", leg, extra={"call_uuid": call.uuid})
                return Outcome.UNAVAILABLE
        if step.forwarded_from:
            self.transferred(state, f"extension:{step.forwarded_from}", str(step.target), step.reason)
        legs = {str(uuid_module.uuid4()): leg for leg in step.legs}
        dial = ",".join(self._dial_string(leg, leg_uuid, step.ring_seconds, state.uuid) for leg_uuid, leg in legs.items())
        phones_of = None if external else step.legs[0].org_id
        if phones_of is not None:
            # As the fallback dialplan does: the organization's phones may pick the call up while it rings.
            dial = fs.ringing_dial(dial, phones_of, state.uuid)
        # Not event-locked: an application sent to the leg while it is bridged (the API's attended transfer,
        # att_xfer by uuid_broadcast) would wait for the bridge's end. Nothing else is sent to it until then.
        bridging = asyncio.ensure_future(session.execute("bridge", dial, event_lock=False))
        answering = asyncio.ensure_future(answering_leg(session.events, legs))
        try:
            done, _ = await asyncio.wait({bridging, answering}, timeout=step.ring_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            answering.cancel()  # an event it was woken for stays queued: _answered_leg finds it
        answer = answering.result() if answering in done else answered_leg(session.events, legs)
        deadline_passed = not done and answer is None
        if deadline_passed:
            for leg_uuid in legs:
                await session.api(f"uuid_kill {leg_uuid} NO_ANSWER")
        if answer is not None:
            self._person_answered(state, *answer)
            if external and _dialled_by_the_switch(session.channel_data) and not session.over:
                # A click-to-call: the employee's phone answered first, then the client's rang.
                # (A call over as it was answered keeps its billing from the employee's answer.)
                with contextlib.suppress(EslError):
                    await session.api(fs.billed_from(state.uuid, int(call_events.event_epoch(answer[1]) or time.time())))
            if not bridging.done():
                state.let_go = True
                return await until_answered_call_ends(session, bridging, state.hung_up)
        result = await bridging
        if phones_of is not None and not session.over:
            # Not answered (an answer withdrew it): no longer ringing here.
            await session.api(f"hash {fs.pickup_withdraw(phones_of, state.uuid)}")
        if answer is None and (answer := answered_leg(session.events, legs)) is not None:
            self._person_answered(state, *answer)  # answered as its deadline passed
        outcome = unanswered_outcome(result, deadline_passed, session)
        if external and outcome is not None:
            self._metrics.trunk_call_failed(external[0].trunk, "NO_ANSWER" if deadline_passed else str(result.get("variable_originate_disposition") or "UNKNOWN"))
        return outcome

    def _person_answered(self, state: CallState, leg: Leg, bridged: Event) -> None:
        state.answered = True  # who answered is on the caller's channel already (answered_by_option)
        self._emit(call_events.answered(state.uuid, call_events.event_time(bridged), state.org_id, self._party(state, leg.org_id, _answered_by(leg))))

    def guard_refusal(self, org_id: str, number: str, call: CallState | None = None) -> Refusal | None:
        """The toll-fraud guard's answer for a call out of `org_id` to `number` now (None: allowed).

        Within `call` (by the site it began with) an allowed call is kept as in progress, released
        when it ends; without, only asked, by the site in force."""
        site, rater = (call.site, call.rater) if call else (self._site, self._rater)
        org = site.organizations[org_id]
        since, until = day_bounds(datetime.now(timezone.utc), site.zone)
        spent, price = self._spend_today(org_id, since, until), rater.price_per_minute(org_id, number)

        def decide(calls: int) -> Refusal | None:
            return check_outbound(org.outbound, org_id, number, calls_in_progress=calls, spent_today=spent, price=price)

        if call is None:
            return decide(self.outbound_calls.in_progress(org_id))
        # Counted and claimed in one step: a call allowed is in progress before the next one is decided (on any node).
        return self.outbound_calls.claim(org_id, call.uuid, decide)

    async def _refuse(self, session: ParkedCall, state: CallState, refusal: Refusal) -> None:
        self._metrics.refused_calls.labels(organization=state.org_id or "", rule=refusal.rule).inc()
        log.warning("toll-fraud guard refused the call (%s): %s", refusal.rule, refusal.reason, extra={"call_uuid": state.uuid})
        if not state.answered:
            # Early media: the caller hears why, and a call that never reached the trunk is never
            # answered, so its CDR cannot bill it (answering here billed the prompt by the deck).
            await session.execute("pre_answer")
        await session.execute("playback", refusal.sound)
        await session.hangup("CALL_REJECTED")

    async def _mark_outbound(self, session: ParkedCall, call: Call, state: CallState, leg: Leg) -> None:
        if state.outbound_org is None:
            state.outbound_org = leg.org_id  # claimed by the guard: released when the call ends
        if call.source is Source.PHONE:
            # The CDR of a call a phone places out rates it by the trunk's deck.
            await session.execute("multiset", fs.multiset({Var.DIRECTION: "outbound", Var.CALLED: leg.number, Var.TRUNK: leg.trunk}))

    def _dial_string(self, leg: Leg, leg_uuid: str, ring_seconds: int | None, call_uuid: str) -> str:
        options = [f"origination_uuid={leg_uuid}", fs.answered_by_option(call_uuid, _answered_by(leg))]
        if ring_seconds is not None:
            options.append(f"leg_timeout={ring_seconds}")
        if leg.external:
            if leg.caller_id:
                options.append(f"origination_caller_id_number={leg.caller_id}")
            return fs.gateway_dial(leg.trunk, leg.number, options)
        return fs.user_dial(leg.org_id, leg.extension, options)


def _dialled_by_the_switch(channel_data) -> bool:
    """A channel the switch placed (`outbound` to it), billed from the answer of the party it
    calls, unless marked already (a transferred client's leg is billed from its transfer)."""
    return header_text(channel_data, "Call-Direction") == "outbound" and not header_text(channel_data, f"variable_{Var.BILLED_FROM}")


def _answered_by(leg: Leg) -> str:
    """Who a leg's answer names: its number out, or its extension."""
    return f"number:{leg.number}" if leg.external else f"extension:{leg.extension}"
