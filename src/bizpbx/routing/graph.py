"""The route graph: where every call of a site can go, decided once (RULES.md).

Both ways a call is routed read this graph and nothing else: the controller
walks it at call time (`bizpbx.routing.walk`, the hours resolved then), and
the renderer spells it as the static fallback dialplan (`bizpbx.render.dialplan`),
which the switch follows when the controller is not there. `bizpbx route
--explain` names the nodes a call passes.

A *node* is one step of a call inside an organization, named by the target
it serves (``ext-101``, ``group-sales``, ``ivr-main``, ``vm-100``,
``out-79161234567``, ``hangup``) or by the number it answers (``in-…``,
``main``). Nodes refer to each other by name, so forwarding chains and menus
that lead back to each other need no expansion.

Loops: a node on a cycle of moves made without the caller's input (ring
outcomes, unconditional forwards, menu and group fallbacks) is `in_loop`. A
call that reaches such a node a second time since the caller last chose a
menu option ends there, with the cause of the failure that led back (busy:
USER_BUSY). A menu's fallback continues the count; a chosen option starts it
afresh.

What the fallback does differently from the controller, on purpose: calls
out to numbers dialled on a phone are refused (the controller's toll-fraud
guard cannot run without it), and the switch's ring timer stands in for the
controller's deadline.
"""

from __future__ import annotations

from dataclasses import replace

from bizpbx.routing.nodes import (
    LOOPING,
    DialOut,
    Forward,
    Incoming,
    Ivr,
    Node,
    OrganizationRoutes,
    Outbound,
    Recording,
    Refuse,
    Ring,
    Schedule,
    SiteRoutes,
    VoicemailBox,
)
from bizpbx.settings import NumberKind, Organization, Site, Target, TargetKind


# Rings before voicemail when an employee has a box but no no-answer forward.
VOICEMAIL_AFTER_SECONDS = 30

# Messages a caller hears when a call cannot go on (FreeSWITCH's standard sounds).
SOUND_NOT_AVAILABLE = "ivr/ivr-not_available.wav"
SOUND_INVALID_NUMBER = "ivr/ivr-call_cannot_be_completed_as_dialed.wav"
SOUND_INTERNAL_ONLY = "ivr/ivr-you_are_not_authorized_to_make_calls.wav"

# Callers who may reach an 8-800 number: a Russian number (+7 except +7 6…
# and +7 7…, Kazakhstan's) in any form a trunk presents it, read as
# `bizpbx.numbers.e164` reads caller numbers (is_russian of e164_digits),
# for the dialplan, which has only a regular expression.
RUSSIAN_CALLER = (
    r"^(?:"
    r"\+7(?![67])\d{6,14}"  # E.164
    r"|[78](?![67])\d{10}"  # 11 digits: trunk prefix 8 or country code 7
    r"|(?![67])\d{10}"  # 10 digits: a national number
    r"|8107(?![67])\d{7,14}"  # the old international prefix 810, then E.164
    r"|7(?![67])(?:\d{6,8}|\d{11,14})"  # E.164 digits without the +
    r")$"
)
# How a call from a caller on an organization's blocklist ends.
BLOCKED_CAUSE = "CALL_REJECTED"
# How a call ends when an outside number it was sent to is not reached.
DIAL_OUT_FAILED = "NORMAL_TEMPORARY_FAILURE"
# What a phone dials to reach an outside number; extensions are 2-6 digits.
EXTERNAL_NUMBER = r"^\+?\d{7,15}$"
# What a phone dials to answer the call ringing another phone of its organization.
PICKUP_CODE = "*8"


_last: tuple[Site, SiteRoutes] | None = None


def route_graph(site: Site) -> SiteRoutes:
    """The site's route graph (kept for the site last asked about: the controller asks per call)."""
    global _last
    if _last is None or _last[0] is not site:
        _last = (site, _build(site))
    return _last[1]


def _build(site: Site) -> SiteRoutes:
    organizations = tuple(_organization(site, org_id, site.organizations[org_id]) for org_id in sorted(site.organizations))
    by_id = {routes.org_id: routes for routes in organizations}
    # A site may do without the main number (bizpbx.site_rules): then no trunk delivers it.
    main_number = {site.main_number.number} if site.trunk_delivering(site.main_number.number) is not None else set()
    incoming = tuple(_incoming(site, number, by_id) for number in sorted({*site.numbers, *main_number}))
    main_ids = tuple(routes.org_id for routes in organizations if routes.main is not None)
    return SiteRoutes(incoming=incoming, main_number_ids=main_ids, organizations=organizations)


def _incoming(site: Site, number: str, by_id: dict[str, OrganizationRoutes]) -> Incoming:
    trunk = site.trunk_delivering(number)
    assert trunk is not None, "site_rules: every number has a trunk"
    entry = site.numbers.get(number)
    if number == site.main_number.number or entry is None or entry.organization is None:
        return Incoming(number, NumberKind.MAIN, trunk, None, None, None, None)
    org_id = entry.organization
    org = site.organizations[org_id]
    if not org.has_telephony:
        return Incoming(number, entry.kind, trunk, org_id, "CALL_REJECTED", None, None)
    callers = RUSSIAN_CALLER if entry.kind is NumberKind.HOTLINE else None
    routes = by_id[org_id]
    node = dict(routes.numbers)[number]
    return Incoming(number, entry.kind, trunk, org_id, None, callers, node, answer_recording(org_id, org, node), routes.blocklist)


def _organization(site: Site, org_id: str, org: Organization) -> OrganizationRoutes:
    builder = _Builder(site, org)
    dialable = {ext: builder.reach(Target(TargetKind.EXTENSION, ext)) for ext in org.employees}
    for name, group in org.ring_groups.items():
        if group.extension is not None:
            dialable[group.extension] = builder.reach(Target(TargetKind.GROUP, name))
    for name in org.ivr_menus:
        builder.reach(Target(TargetKind.IVR, name))  # ivr.conf carries every menu
    numbers: tuple[tuple[str, str], ...] = ()
    main = None
    outbound = None
    if org.has_telephony:
        numbers = tuple((number, builder.answer(number)) for number in sorted(site.numbers_of(org_id)))
        if site.trunk_delivering(site.main_number.number) is not None:
            main = builder.answer("main")
        trunk_name, trunk = site.trunk_for(org)
        outbound = Outbound(trunk_name, org.caller_id or trunk.caller_id)
    return OrganizationRoutes(
        org_id=org_id,
        nodes=_mark_loops(builder.nodes),
        dialable=tuple(sorted(dialable.items())),
        numbers=numbers,
        main=main,
        outbound=outbound,
        voicemail_boxes=tuple(sorted(ext for ext, employee in org.employees.items() if employee.voicemail.enabled)),
        main_recording=answer_recording(org_id, org, main) if main is not None else None,
        phone_recordings=tuple((ext, placed_recording(org_id, org, ext)) for ext in sorted(org.employees)),
        blocklist=tuple(org.blocklist) if org.has_telephony else (),
    )


def answer_recording(org_id: str, org: Organization, node: str) -> Recording:
    """Recording of calls from outside to one of the organization's numbers, whose
    rule leads to `node`: the employee it rings straight away may override the organization."""
    policy = org.recording
    employee = org.employees.get(node.removeprefix(EXTENSION_NODE)) if node.startswith(EXTENSION_NODE) else None
    if employee is not None and employee.record_calls is not None:
        onoff = "on" if employee.record_calls else "off"
        return Recording(employee.record_calls, f"recording {onoff} for employee {node.removeprefix(EXTENSION_NODE)}, whom the number rings", policy.notice)
    record = policy.calls in ("all", "inbound")
    return Recording(record, f"organization {org_id} records {policy.calls if policy.calls != 'off' else 'no'} calls", policy.notice)


def placed_recording(org_id: str, org: Organization, extension: str) -> Recording:
    """Recording of the calls an employee's phone places (internal and out)."""
    policy = org.recording
    override = org.employees[extension].record_calls
    if override is not None:
        return Recording(override, f"recording {'on' if override else 'off'} for employee {extension}, who places the call", policy.notice)
    record = policy.calls == "all"
    return Recording(record, f"organization {org_id} records {policy.calls if policy.calls != 'off' else 'no'} calls", policy.notice)


def onward(node: Node) -> tuple[str, ...]:
    """The nodes a call moves on to from `node` without the caller's input."""
    if isinstance(node, Ring):
        return tuple(dict.fromkeys(n for n in (node.on_busy, node.on_no_answer, node.on_unavailable) if n is not None))
    if isinstance(node, Forward):
        return (node.to,)
    if isinstance(node, Ivr):
        return (node.fallback,)
    if isinstance(node, Schedule):
        return (node.open, node.closed)
    return ()


def _mark_loops(nodes: dict[str, Node]) -> tuple[Node, ...]:
    """The nodes sorted by name, each on a cycle of moves without input marked
    `in_loop`, and the menus told to count when there are such nodes."""

    def on_a_cycle(start: str) -> bool:
        seen: set[str] = set()
        stack = list(onward(nodes[start]))
        while stack:
            name = stack.pop()
            if name == start:
                return True
            if name not in seen:
                seen.add(name)
                stack.extend(onward(nodes[name]))
        return False

    looping = {name for name, node in nodes.items() if isinstance(node, LOOPING) and on_a_cycle(name)}
    marked = []
    for name in sorted(nodes):
        node = nodes[name]
        if name in looping:
            node = replace(node, in_loop=True)
        if looping and isinstance(node, Ivr):
            node = replace(node, counts_loops=True)
        marked.append(node)
    return tuple(marked)


def number_node(number: str) -> str:
    """The node answering one of an organization's numbers (or ``main``)."""
    return "main" if number == "main" else f"in-{number.lstrip('+')}"


EXTENSION_NODE = "ext-"  # + the extension: the node ringing an employee's phone


def target_node(target: Target) -> str:
    kind, value = target.kind, target.value
    if kind is TargetKind.HANGUP:
        return "hangup"
    if kind is TargetKind.NUMBER:
        return f"out-{value.lstrip('+')}"
    prefix = {TargetKind.EXTENSION: EXTENSION_NODE, TargetKind.GROUP: "group-", TargetKind.IVR: "ivr-", TargetKind.VOICEMAIL: "vm-"}[kind]
    return f"{prefix}{value}"


class _Builder:
    """Lays out the nodes of one organization, each once, reached from its
    phones, its numbers and its menus."""

    def __init__(self, site: Site, org: Organization) -> None:
        self.site = site
        self.org = org
        self.nodes: dict[str, Node] = {}

    def answer(self, number: str) -> str:
        """The node for calls to `number` (an E.164 number of the organization, or main)."""
        rule = next((r for r in self.org.incoming if r.number == number), None)
        if rule is None:
            return self.reach(Target(TargetKind.EXTENSION, self.org.owner))
        if rule.hours is None:
            return self.reach(rule.target)
        name = number_node(number)
        self.nodes[name] = Schedule(name, rule.hours, self.reach(rule.target), self.reach(rule.after_hours))
        return name

    def reach(self, target: Target) -> str:
        name = target_node(target)
        if name not in self.nodes:
            self.nodes[name] = Refuse(name, target, "NORMAL_CLEARING", "")  # placeholder while laying out (cycles)
            self.nodes[name] = self._lay_out(name, target)
        return name

    def _lay_out(self, name: str, target: Target) -> Node:
        kind, value = target.kind, target.value
        if kind is TargetKind.HANGUP:
            return Refuse(name, target, "NORMAL_CLEARING", "the rule hangs up")
        if kind is TargetKind.VOICEMAIL:
            return VoicemailBox(name, target, value)
        if kind is TargetKind.EXTENSION:
            if value not in self.org.employees:
                return Refuse(name, target, "UNALLOCATED_NUMBER", f"no employee {value}")
            return self._extension(name, target)
        if kind is TargetKind.GROUP:
            return self._group(name, target)
        if kind is TargetKind.IVR:
            menu = self.org.ivr_menus.get(value)
            if menu is None:
                return Refuse(name, target, "UNALLOCATED_NUMBER", f"no IVR menu {value}")
            options = tuple((digit, self.reach(menu.options[digit])) for digit in sorted(menu.options))
            return Ivr(name, target, value, options, self.reach(menu.fallback))
        if not self.org.has_telephony:
            why = "the organization has no telephony plan, internal calls only"
            return Refuse(name, target, "CALL_REJECTED", why, SOUND_INTERNAL_ONLY)
        trunk_name, trunk = self.site.trunk_for(self.org)
        return DialOut(name, target, value, trunk_name, self.org.caller_id or trunk.caller_id)

    def _group(self, name: str, target: Target) -> Node:
        group = self.org.ring_groups.get(target.value)
        if group is None:
            return Refuse(name, target, "UNALLOCATED_NUMBER", f"no ring group {target.value}")
        fallback = self.reach(group.fallback) if group.fallback is not None else None
        members = tuple(m for m in group.members if m in self.org.employees and not self.org.employees[m].do_not_disturb)
        if not members and any(m in self.org.employees for m in group.members):
            # Every member is on do-not-disturb: busy, as their phones would be.
            why = f"every member of ring group {target.value} is on do-not-disturb"
            return Forward(name, target, fallback, why=why) if fallback is not None else Refuse(name, target, "USER_BUSY", why)
        if not members:
            if fallback is not None:
                return Forward(name, target, fallback)
            return Refuse(name, target, "NO_ANSWER", f"ring group {target.value} has no members")
        return Ring(name, target, members, group.strategy == "sequential", group.ring_seconds, fallback, fallback, fallback)

    def _extension(self, name: str, target: Target) -> Node:
        employee = self.org.employees[target.value]
        forwarding = employee.forwarding
        if forwarding.unconditional is not None:
            return Forward(name, target, self.reach(forwarding.unconditional))
        voicemail = self.reach(Target(TargetKind.VOICEMAIL, target.value)) if employee.voicemail.enabled else None
        if forwarding.no_answer is not None:
            ring_seconds: int | None = forwarding.no_answer.after_seconds
        else:
            ring_seconds = VOICEMAIL_AFTER_SECONDS if voicemail else None

        def outcome(forward: Target | None) -> str | None:
            return self.reach(forward) if forward is not None else voicemail

        if employee.do_not_disturb:
            # Not rung: busy, so the busy forwarding (or voicemail) takes the call.
            busy = outcome(forwarding.busy)
            why = f"{target.value} is on do-not-disturb"
            return Forward(name, target, busy, why=why) if busy is not None else Refuse(name, target, "USER_BUSY", f"{why}, no busy forwarding")

        return Ring(
            name,
            target,
            (target.value,),
            sequential=False,
            ring_seconds=ring_seconds,
            on_busy=outcome(forwarding.busy),
            on_no_answer=outcome(forwarding.no_answer.to if forwarding.no_answer else None),
            on_unavailable=outcome(forwarding.unavailable),
        )
