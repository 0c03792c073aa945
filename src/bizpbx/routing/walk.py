"""The controller's routing: a walk of the site's route graph into a plan.

`route` plans a new call; `route_after_digits` continues after the caller
entered an organization ID on the main number; `route_menu_choice` continues
after a key (or none) in an IVR menu. Each walks `bizpbx.routing.graph` from
the call's entry node, resolving what depends on the time of the call (the
business hours), and returns a `Plan`; none does I/O. The static fallback
dialplan is spelt from the same graph, so both route every call alike.
"""

from __future__ import annotations

from datetime import datetime

from bizpbx.numbers.e164 import e164_digits, is_russian
from bizpbx.routing.graph import (
    BLOCKED_CAUSE,
    DIAL_OUT_FAILED,
    PICKUP_CODE,
    SOUND_INTERNAL_ONLY,
    SOUND_INVALID_NUMBER,
    DialOut,
    Forward,
    Ivr,
    OrganizationRoutes,
    Recording,
    Refuse,
    Ring,
    Schedule,
    VoicemailBox,
    route_graph,
    target_node,
)
from bizpbx.routing.callers import blocking_entry
from bizpbx.routing.hours import is_open
from bizpbx.routing.plan import Answer, Bridge, Call, Collect, Hangup, Leg, Menu, Pickup, Plan, Play, Source, Step, Voicemail
from bizpbx.settings import NumberKind, Site, Target, TargetKind

# How a loop closed before any ring failed ends (the switch's hangup with no cause given).
NOTHING_RUNG_YET = "NORMAL_CLEARING"
# The cause each way a ring can fail ends the call with, when nothing follows.
FAILURE_CAUSES = (("busy", "USER_BUSY"), ("no answer", "NO_ANSWER"), ("unavailable", "USER_NOT_REGISTERED"))


def to_e164(text: str) -> str | None:
    """A number as the trunk or a phone gives it, in E.164 (None: not a phone number)."""
    digits = e164_digits(text) if text else None
    return f"+{digits}" if digits else None


def route(call: Call, site: Site, now: datetime) -> Plan:
    """The plan for a new call."""
    if call.source is Source.TRUNK:
        return _from_trunk(call, site, now)
    return _from_phone(call, site, now)


def route_after_digits(call: Call, site: Site, now: datetime, digits: str) -> Plan:
    """The main number's continuation once the caller entered `digits` (maybe none)."""
    routes = route_graph(site).organization(digits) if digits else None
    if routes is None or routes.main is None:
        why = "no digits entered" if not digits else f"{digits} is not an organization that takes calls"
        return _refusal(site.main_number.invalid_prompt, "NO_ROUTE_DESTINATION", why, answered=True, direction="inbound")
    blocked = _blocked(call, routes.blocklist, digits)
    if blocked is not None:
        # Refused before the organization's recording starts (the fallback screens there too).
        return Plan((blocked,), org_id=digits, direction="inbound")
    walk = _Walk(site, now, routes, answered=True)
    walk.visit(routes.main, (), NOTHING_RUNG_YET, f"organization {digits} ({site.organizations[digits].name})")
    return walk.plan("inbound", routes.main_recording)


def route_menu_choice(call: Call, site: Site, now: datetime, menu: Menu, digit: str | None) -> Plan:
    """A menu's continuation: the option for `digit` (counting loops afresh), or
    the fallback when no valid key came (the count goes on)."""
    routes = route_graph(site).organization(menu.org_id)
    assert routes is not None, "a menu of an organization of the site"
    ivr = routes.by_name[target_node(Target(TargetKind.IVR, menu.name))]
    assert isinstance(ivr, Ivr)
    walk = _Walk(site, now, routes, answered=True)
    chosen = dict(ivr.options).get(digit) if digit else None
    if chosen is not None:
        walk.visit(chosen, (), NOTHING_RUNG_YET, f"menu {menu.name}: key {digit}")
    else:
        walk.visit(ivr.fallback, menu.path, NOTHING_RUNG_YET, f"menu {menu.name}: no valid key, fallback")
    return walk.plan("inbound")


def is_waiting(step: Step) -> bool:
    """Whether the step waits for the caller's keys (its continuation is planned afterwards)."""
    return isinstance(step, (Collect, Menu))


def _from_trunk(call: Call, site: Site, now: datetime) -> Plan:
    called = to_e164(call.destination)
    graph = route_graph(site)
    entry = next((e for e in graph.incoming if e.number == called), None)
    if entry is None:
        return Plan((Hangup("UNALLOCATED_NUMBER", f"{call.destination} is not a number of this site"),), direction="inbound")
    if entry.kind is NumberKind.MAIN:
        if not graph.main_number_ids:
            return Plan((Hangup("NO_ROUTE_DESTINATION", "no organization takes calls on the main number"),), direction="inbound")
        main = site.main_number
        collect = Collect(
            prompt=main.prompt,
            invalid_prompt=main.invalid_prompt,
            max_attempts=main.max_attempts,
            timeout_seconds=main.digit_timeout_seconds,
            valid=graph.main_number_ids,
            reason="the main number: the caller enters the organization ID",
        )
        return Plan((Answer(), collect), direction="inbound")
    org_id = entry.org_id
    if entry.refuse is not None:
        why = f"organization {org_id} has no telephony plan: internal calls only"
        return Plan((Hangup(entry.refuse, why),), org_id=org_id, direction="inbound")
    if entry.callers is not None:
        caller = to_e164(call.caller)
        if caller is None or not is_russian(caller[1:]):
            why = f"an 8-800 number takes callers in Russia only; caller {call.caller or '(none)'} is not, so the call is refused before answer"
            return Plan((Hangup("CALL_REJECTED", why),), org_id=org_id, direction="inbound", recording=entry.recording)
    blocked = _blocked(call, entry.blocklist, org_id)
    if blocked is not None:
        # Armed where the number is answered, as the fallback does: never answered, nothing recorded.
        return Plan((blocked,), org_id=org_id, direction="inbound", recording=entry.recording)
    routes = graph.organization(org_id)
    walk = _Walk(site, now, routes, answered=False)
    walk.visit(entry.node, (), NOTHING_RUNG_YET, f"{entry.kind} number {called} of organization {org_id}")
    return walk.plan("inbound", entry.recording)


def _from_phone(call: Call, site: Site, now: datetime) -> Plan:
    org_id = call.org_id
    routes = route_graph(site).organization(org_id)
    if routes is None:
        return Plan((Hangup("CALL_REJECTED", f"the caller's organization {org_id} is not in the site"),))
    dialed = call.destination
    if dialed == PICKUP_CODE:
        why = f"call pickup: the call now ringing a phone of organization {org_id} (never another organization's)"
        return Plan((Pickup(org_id, why),), org_id=org_id)
    node = dict(routes.dialable).get(dialed)
    walk = _Walk(site, now, routes, answered=False)
    recording = _placed_recording(call, routes)
    if node is not None:
        walk.visit(node, (), NOTHING_RUNG_YET, f"extension {dialed} of organization {org_id}")
        return walk.plan("internal", recording)
    number = to_e164(dialed)
    if number is None:
        why = f"{dialed} is neither an extension nor a phone number"
        return _refusal(SOUND_INVALID_NUMBER, "UNALLOCATED_NUMBER", why, answered=False, org_id=org_id, recording=recording)
    if routes.outbound is None:
        walk.visit_node(_internal_only(routes, number), (), NOTHING_RUNG_YET, f"external number {number}")
        return walk.plan("outbound", recording)
    walk.dial_out(Target(TargetKind.NUMBER, number), number, routes.outbound.trunk, routes.outbound.caller_id, f"external number {number}", None)
    return walk.plan("outbound", recording)


def _placed_recording(call: Call, routes: OrganizationRoutes) -> Recording | None:
    """The recording of a call placed by the phone registered as `call.user` (None: no employee's phone)."""
    extension = (call.user or "").removeprefix(f"{routes.org_id}-")
    return dict(routes.phone_recordings).get(extension) if call.user else None


def _blocked(call: Call, blocklist: tuple[str, ...], org_id: str) -> Hangup | None:
    """The refusal of a caller on the organization's blocklist (before answer, but for the main number)."""
    entry = blocking_entry(call.caller, blocklist)
    if entry is None:
        return None
    return Hangup(BLOCKED_CAUSE, f"caller {call.caller} is on organization {org_id}'s blocklist ({entry})")


def _internal_only(routes: OrganizationRoutes, number: str) -> Refuse:
    why = f"organization {routes.org_id} has no telephony plan, internal calls only"
    return Refuse(target_node(Target(TargetKind.NUMBER, number)), Target(TargetKind.NUMBER, number), "CALL_REJECTED", why, SOUND_INTERNAL_ONLY)


def _refusal(
    sound: str, cause: str, why: str, *, answered: bool, org_id: str | None = None, direction: str = "internal", recording: Recording | None = None
) -> Plan:
    steps: tuple[Step, ...] = (Play(sound, why), Hangup(cause, why))
    return Plan(steps if answered else (Answer(), *steps), org_id=org_id, direction=direction, recording=recording)


class _Walk:
    """Lays out the steps from a node and, depth first, for where each of its
    failures leads; a failure always jumps forward, so a plan cannot loop.

    `rung` is the looping nodes (graph: `in_loop`) reached since the caller's
    last menu choice; `cause` is what the failure that led here ended with,
    the cause a loop closed here ends the call with."""

    def __init__(self, site: Site, now: datetime, routes: OrganizationRoutes, *, answered: bool) -> None:
        self.site = site
        self.now = now
        self.routes = routes
        self.answered = answered
        self.steps: list[Step | None] = []
        self._laid_out: dict[tuple, int] = {}
        self.loops = any(getattr(node, "in_loop", False) for node in routes.nodes)

    def plan(self, direction: str, recording: Recording | None = None) -> Plan:
        assert all(step is not None for step in self.steps)
        return Plan(tuple(self.steps), org_id=self.routes.org_id, direction=direction, recording=recording)  # type: ignore[arg-type]

    def add(self, *steps: Step) -> int:
        first = len(self.steps)
        self.steps.extend(steps)
        return first

    def visit(self, name: str, rung: tuple[str, ...], cause: str, reason: str, forwarded_from: str | None = None, after: int = -1) -> int:
        """The first step for the node `name`, reached from step `after` (a jump goes forward only)."""
        return self.visit_node(self.routes.by_name[name], rung, cause, reason, forwarded_from, after)

    def visit_node(self, node, rung: tuple[str, ...], cause: str, reason: str, forwarded_from: str | None = None, after: int = -1) -> int:
        if isinstance(node, Schedule):
            inside = is_open(node.hours, self.now, self.site.zone)
            onward = node.open if inside else node.closed
            return self.visit(onward, rung, cause, f"{reason}: incoming rule, {'within' if inside else 'outside'} business hours", forwarded_from, after)
        if getattr(node, "in_loop", False):
            if node.node in rung:
                return self.add(Hangup(cause, f"{node.target} was already tried on this call ({reason}): stopping a forwarding loop"))
            rung = (*rung, node.node)
        if isinstance(node, (Refuse, VoicemailBox)):
            return self._final(node, reason, forwarded_from)
        # What follows a node depends on the count and the cause only where a loop can close.
        key = (node.node, frozenset(rung), cause if self.loops else "", forwarded_from)
        # Steps laid out for another branch are shared only when they lie ahead of the jump to them.
        if self._laid_out.get(key, -1) <= after:
            self._laid_out[key] = self._lay_out(node, rung, cause, reason, forwarded_from, after)
        return self._laid_out[key]

    def _final(self, node: Refuse | VoicemailBox, reason: str, forwarded_from: str | None) -> int:
        if isinstance(node, VoicemailBox):
            return self.add(Voicemail(self.routes.org_id, node.extension, reason, forwarded_from))
        why = f"{reason}: {node.why}" if node.why else reason
        if node.sound is None:
            return self.add(Hangup(node.cause, why))
        steps = (Play(node.sound, why), Hangup(node.cause, why))
        return self.add(*steps) if self.answered else self.add(Answer(), *steps)

    def _lay_out(self, node, rung: tuple[str, ...], cause: str, reason: str, forwarded_from: str | None, after: int) -> int:
        if isinstance(node, Forward):
            ext = node.target.value if node.target.kind is TargetKind.EXTENSION else None
            why = node.why or (f"{ext} forwards every call" if ext else f"{node.target}: nobody to ring")
            return self.visit(node.to, rung, cause, why, ext or forwarded_from, after)
        if isinstance(node, Ivr):
            return self._menu(node, rung, reason)
        if isinstance(node, DialOut):
            return self.dial_out(node.target, node.number, node.trunk, node.caller_id, reason, forwarded_from)
        return self._ring(node, rung, reason, forwarded_from)

    def _menu(self, node: Ivr, rung: tuple[str, ...], reason: str) -> int:
        menu = self.site.organizations[self.routes.org_id].ivr_menus[node.menu]
        targets = {n.node: n.target for n in self.routes.nodes if not isinstance(n, Schedule)}
        step = Menu(
            org_id=self.routes.org_id,
            name=node.menu,
            greeting=menu.greeting,
            options=tuple((digit, targets[onward]) for digit, onward in node.options),
            timeout_seconds=menu.timeout_seconds,
            max_failures=menu.max_failures,
            invalid_sound=menu.invalid_sound,
            fallback=targets[node.fallback],
            path=rung,
            reason=reason,
        )
        return self.add(step) if self.answered else self.add(Answer(), step)

    def dial_out(self, target: Target, number: str, trunk: str, caller_id: str | None, reason: str, forwarded_from: str | None) -> int:
        leg = Leg(self.routes.org_id, number=number, trunk=trunk, caller_id=caller_id)
        index = self._placeholder()
        failed = self.add(Hangup(DIAL_OUT_FAILED, f"{target}: not reached"))
        self.steps[index] = Bridge(
            target=target,
            legs=(leg,),
            ring_seconds=None,
            on_busy=failed,
            on_no_answer=failed,
            on_unavailable=failed,
            forwarded_from=forwarded_from,
            reason=reason,
        )
        return index

    def _placeholder(self) -> int:
        self.steps.append(None)
        return len(self.steps) - 1

    def _ring(self, ring: Ring, rung: tuple[str, ...], reason: str, forwarded_from: str | None) -> int:
        legs = [Leg(self.routes.org_id, extension=ext) for ext in ring.extensions]
        rings = [(leg,) for leg in legs] if ring.sequential else [tuple(legs)]
        indices = [self._placeholder() for _ in rings]
        where = ring.forwards_from or f"ring group {ring.target.value}"
        outcomes = {}
        for (outcome, failure_cause), onward in zip(FAILURE_CAUSES, (ring.on_busy, ring.on_no_answer, ring.on_unavailable)):
            if onward is None:
                outcomes[outcome] = self.add(Hangup(failure_cause, f"{where}: {outcome}, {'no forwarding' if ring.forwards_from else 'no fallback'}"))
            else:
                outcomes[outcome] = self.visit(onward, rung, failure_cause, f"{where}: {outcome}", ring.forwards_from, indices[-1])
        for position, (index, legs_rung) in enumerate(zip(indices, rings)):
            last = position + 1 == len(rings)
            following = None if last else indices[position + 1]
            group = "" if ring.forwards_from else f": {'sequential' if ring.sequential else 'simultaneous'}"
            self.steps[index] = Bridge(
                target=ring.target,
                legs=legs_rung,
                ring_seconds=ring.ring_seconds,
                on_busy=outcomes["busy"] if last else following,
                on_no_answer=outcomes["no answer"] if last else following,
                on_unavailable=outcomes["unavailable"] if last else following,
                check_registration=len(legs_rung) == 1,
                forwarded_from=forwarded_from,
                reason=f"{reason}{group}" + (f", member {position + 1} of {len(rings)}" if len(rings) > 1 else ""),
            )
        return indices[0]
