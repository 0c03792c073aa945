"""The dialplan contexts of a site, as plain data the dialplan template writes out.

Routing decisions come from `bizpbx.static_routes`; this module only spells
them in FreeSWITCH's XML dialplan: which conditions, which applications.

Every call first goes to the controller's socket (`socket … async full`).
FreeSWITCH goes on with the next action when the controller is not
listening or drops the call, so what follows the socket is the static
fallback. `hangup_after_bridge` is set before the socket, so a call the
controller has bridged ends with the bridge instead of being routed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bizpbx import fs_names
from bizpbx.settings import Site
from bizpbx.static_routes import (
    EXTENSION_NODE,
    EXTERNAL_NUMBER,
    DialOut,
    Forward,
    Incoming,
    Menu,
    Node,
    OrganizationRoutes,
    Refuse,
    Ring,
    Schedule,
    SiteRoutes,
    VoicemailBox,
    number_node,
)

# Dispositions of a failed bridge (`originate_disposition`) by forwarding outcome.
BUSY_CAUSES = ("USER_BUSY", "CALL_REJECTED")
NO_ANSWER_CAUSES = ("NO_ANSWER", "ALLOTTED_TIMEOUT", "NO_USER_RESPONSE")
UNAVAILABLE_CAUSES = ("USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT", "UNALLOCATED_NUMBER")

# The outbound fallback: without the controller nothing may leave through
# the trunk on a phone's request (the toll-fraud guard runs in the controller).
GUARD_DOWN_CAUSE = "NORMAL_TEMPORARY_FAILURE"
# The looping rings (static_routes.Ring.in_loop) rung since the caller's last menu: "ext-101,ext-102,".
LOOP_VARIABLE = "bizpbx_rung"
VOICEMAIL_CHECK = "*97"
MAIN_NODE = number_node("main")  # where the main number's callers enter an organization


@dataclass(frozen=True, slots=True)
class Action:
    application: str
    data: str = ""


@dataclass(frozen=True, slots=True)
class Condition:
    field: str | None = None
    expression: str | None = None
    # Time conditions (wday, time-of-day, year, mon, mday) instead of a field.
    time: tuple[tuple[str, str], ...] = ()
    actions: tuple[Action, ...] = ()
    anti_actions: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True)
class Extension:
    name: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Context:
    name: str
    extensions: tuple[Extension, ...]


@dataclass(frozen=True, slots=True)
class IvrMenu:
    """A menu of ivr.conf; each key transfers to its node."""

    name: str
    greeting: str
    invalid_sound: str
    timeout_ms: int
    max_failures: int
    entries: tuple[tuple[str, str], ...]  # (digit, menu-exec-app parameter)


def exactly(text: str) -> str:
    return f"^{re.escape(text)}$"


def number_pattern(e164: str) -> str:
    """The forms a trunk may give a number in: +7…, 7…, 8… (national) or bare for +7."""
    if e164.startswith("+7"):
        return rf"^(?:\+7|7|8)?{e164[2:]}$"
    return rf"^\+?{e164[1:]}$"


def _one_of(texts: list[str], prefix: str = "") -> str:
    """Matches `prefix` and one of `texts`, which it captures as $1."""
    return f"^{re.escape(prefix)}(" + "|".join(re.escape(text) for text in texts) + ")$"


def _rings_plainly(node: Node) -> bool:
    return (
        isinstance(node, Ring)
        and node.node == EXTENSION_NODE + node.extensions[0]
        and node.ring_seconds is None
        and node.on_busy is None
        and node.on_no_answer is None
        and node.on_unavailable is None
    )


def _set(name: str, value: str) -> Action:
    return Action("set", f"{name}={value}")


def _transfer(node: str, context: str) -> Action:
    return Action("transfer", f"{node} XML {context}")


def _app_line(action: Action) -> str:
    """An application with its data, as menu-exec-app takes it."""
    return f"{action.application} {action.data}"


def _destination(expression: str, *actions: Action) -> Condition:
    return Condition(field="destination_number", expression=expression, actions=actions)


class _Spelling:
    """FreeSWITCH spelling of the decisions, for one site."""

    def __init__(self, site: Site) -> None:
        self.site = site
        listen = site.controller.socket
        self.socket = Action("socket", f"{listen.host}:{listen.port} async full")

    def user_dial(self, org_id: str, extension: str) -> str:
        return f"user/{fs_names.user_id(org_id, extension)}@${{domain}}"

    def to_controller(self, **variables: str) -> tuple[Action, ...]:
        sets = tuple(_set(f"bizpbx_{name}", value) for name, value in variables.items())
        return (*sets, _set("hangup_after_bridge", "true"), self.socket)

    # --- the public context: numbers from the trunk ---------------------------------

    def public(self, routes: SiteRoutes) -> Context:
        return Context(fs_names.PUBLIC_CONTEXT, tuple(self.incoming(entry, routes) for entry in routes.incoming))

    def incoming(self, entry: Incoming, routes: SiteRoutes) -> Extension:
        handover = self.to_controller(
            direction="inbound",
            called=entry.number,
            number_kind=entry.kind.value,
            **({"org_id": entry.org_id} if entry.org_id else {}),
            trunk=entry.trunk,
        )
        screening: tuple[Condition, ...] = ()
        if entry.org_id is None:
            fallback = self.main_number(routes)
        elif entry.refuse is not None:
            fallback = (Action("hangup", entry.refuse),)
        else:
            onward = _transfer(entry.node, fs_names.incoming_context(entry.org_id))
            if entry.callers is None:
                fallback = (onward,)
            else:
                fallback = ()
                refused = (Action("hangup", "CALL_REJECTED"),)
                screening = (Condition(field="caller_id_number", expression=entry.callers, actions=(onward,), anti_actions=refused),)
        return Extension(f"number {entry.number}", (_destination(number_pattern(entry.number), *handover, *fallback), *screening))

    def main_number(self, routes: SiteRoutes) -> tuple[Action, ...]:
        """Ask for the organization ID, then go to that organization's `main` node."""
        if not routes.main_number_ids:
            return (Action("hangup", "NO_ROUTE_DESTINATION"),)
        main = self.site.main_number
        ids = routes.main_number_ids
        collect = " ".join(
            (
                str(min(map(len, ids))),
                str(max(map(len, ids))),
                str(main.max_attempts),
                str(main.digit_timeout_seconds * 1000),
                "#",
                main.prompt,
                main.invalid_prompt,
                "bizpbx_org_id",
                "^(?:" + "|".join(ids) + ")$",
                str(main.digit_timeout_seconds * 1000),
                f"refused XML {fs_names.MAIN_NUMBER_CONTEXT}",
            )
        )
        return (
            Action("answer"),
            Action("play_and_get_digits", collect),
            _transfer(MAIN_NODE, fs_names.incoming_context("${bizpbx_org_id}")),
        )

    def main_number_refusal(self) -> Context:
        refused = _destination(exactly("refused"), Action("hangup", "NO_ROUTE_DESTINATION"))
        return Context(fs_names.MAIN_NUMBER_CONTEXT, (Extension("refused", (refused,)),))

    # --- an organization: its phones and its incoming calls -------------------------

    def phones(self, org: OrganizationRoutes) -> Context:
        incoming = fs_names.incoming_context(org.org_id)
        handover = self.to_controller(direction="internal", org_id=org.org_id)
        # One extension for every employee (each to the node of the same
        # name); a ring group's extension has one of its own.
        employees = [dialled for dialled, node in org.dialable if node == EXTENSION_NODE + dialled]
        to_node = _transfer(f"{EXTENSION_NODE}$1", incoming)
        extensions = [Extension("employees", (_destination(_one_of(employees), *handover, to_node),))]
        extensions += [
            Extension(dialled, (_destination(exactly(dialled), *handover, _transfer(node, incoming)),))
            for dialled, node in org.dialable
            if dialled not in employees
        ]
        if org.voicemail_boxes:
            check = Action("voicemail", f"check {fs_names.VOICEMAIL_PROFILE} ${{domain}} ${{bizpbx_user_id}}")
            extensions.append(Extension("voicemail check", (_destination(exactly(VOICEMAIL_CHECK), Action("answer"), check),)))
        if org.outbound is not None:
            caller_id = (_set("effective_caller_id_number", org.outbound.caller_id),) if org.outbound.caller_id else ()
            handover = self.to_controller(direction="outbound", org_id=org.org_id, trunk=org.outbound.trunk)
            guard_down = Action("hangup", GUARD_DOWN_CAUSE)
            extensions.append(Extension("outbound", (_destination(EXTERNAL_NUMBER, *caller_id, *handover, guard_down),)))
        return Context(fs_names.phones_context(org.org_id), tuple(extensions))

    def incoming_calls(self, org: OrganizationRoutes) -> Context:
        context = fs_names.incoming_context(org.org_id)
        # Phones that just ring (no forwarding, no voicemail) share one extension.
        plain = [node.extensions[0] for node in org.nodes if _rings_plainly(node)]
        extensions: list[Extension] = [self.plain_rings(org.org_id, plain)] if plain else []
        for node in org.nodes:
            if not _rings_plainly(node):
                extensions.extend(self.node(org.org_id, context, node))
        if org.main is not None and org.main != MAIN_NODE:
            # The main number transfers to `main` whatever the organization ID: here it leads on.
            extensions.append(Extension(MAIN_NODE, (_destination(exactly(MAIN_NODE), _transfer(org.main, context)),)))
        return Context(context, tuple(extensions))

    def plain_rings(self, org_id: str, extensions: list[str]) -> Extension:
        nodes = _one_of(extensions, prefix=EXTENSION_NODE)
        return Extension("phones without forwarding", (_destination(nodes, Action("bridge", self.user_dial(org_id, "$1"))),))

    def node(self, org_id: str, context: str, node: Node) -> list[Extension]:
        here = exactly(node.node)
        if isinstance(node, Ring):
            return self.ring(org_id, context, node)
        if isinstance(node, Forward):
            return [Extension(node.node, (_destination(here, _transfer(node.to, context)),))]
        if isinstance(node, Menu):
            fresh = (Action("unset", LOOP_VARIABLE),) if node.clears_loop else ()
            actions = (Action("answer"), *fresh, Action("ivr", fs_names.ivr_menu(org_id, node.menu)), _transfer(node.fallback, context))
            return [Extension(node.node, (_destination(here, *actions),))]
        if isinstance(node, VoicemailBox):
            box = f"{fs_names.VOICEMAIL_PROFILE} ${{domain}} {fs_names.user_id(org_id, node.extension)}"
            # As the controller does: the CDR tells the call ended in voicemail (call.missed, voicemail: true).
            ended_in = _set("bizpbx_voicemail", node.extension)
            return [Extension(node.node, (_destination(here, ended_in, Action("answer"), Action("voicemail", box), Action("hangup")),))]
        if isinstance(node, DialOut):
            caller_id = (_set("effective_caller_id_number", node.caller_id),) if node.caller_id else ()
            actions = (*caller_id, _set("bizpbx_trunk", node.trunk), Action("bridge", fs_names.gateway_dial(node.trunk, node.number)))
            return [Extension(node.node, (_destination(here, *actions),))]
        if isinstance(node, Refuse):
            return [Extension(node.node, (_destination(here, Action("hangup", node.cause)),))]
        return self.schedule(context, node)

    def ring(self, org_id: str, context: str, ring: Ring) -> list[Extension]:
        legs = [self.user_dial(org_id, ext) for ext in ring.extensions]
        if ring.sequential and ring.ring_seconds is not None:
            dial = "|".join(f"[leg_timeout={ring.ring_seconds}]{leg}" for leg in legs)
        else:
            dial = ("|" if ring.sequential else ",").join(legs)
        timer = (_set("call_timeout", str(ring.ring_seconds)),) if ring.ring_seconds is not None and not ring.sequential else ()
        outcomes = ((BUSY_CAUSES, ring.on_busy), (NO_ANSWER_CAUSES, ring.on_no_answer), (UNAVAILABLE_CAUSES, ring.on_unavailable))
        if all(node is None for _, node in outcomes):
            # No forwarding: a failed bridge hangs the caller up with its cause.
            return [Extension(ring.node, (_destination(exactly(ring.node), *timer, Action("bridge", dial)),))]
        failed = f"{ring.node}-failed"
        actions = (*timer, _set("continue_on_fail", "true"), Action("bridge", dial), _transfer(failed, context))
        if ring.in_loop:
            # Rung already since the caller's last menu: a forwarding loop,
            # ended with what the bridge that led back here ended with.
            seen = Condition(
                field=f"${{{LOOP_VARIABLE}}}",
                expression=f"(?:^|,){re.escape(ring.node)},",
                actions=(Action("hangup", "${originate_disposition}"),),
                anti_actions=(_set(LOOP_VARIABLE, f"${{{LOOP_VARIABLE}}}{ring.node},"), *actions),
            )
            extensions = [Extension(ring.node, (Condition(field="destination_number", expression=exactly(ring.node)), seen))]
        else:
            extensions = [Extension(ring.node, (_destination(exactly(ring.node), *actions),))]
        for causes, node in outcomes:
            if node is not None:
                by_cause = Condition(field="${originate_disposition}", expression="^(?:" + "|".join(causes) + ")$", actions=(_transfer(node, context),))
                extensions.append(Extension(f"{failed} {causes[0].lower()}", (Condition(field="destination_number", expression=exactly(failed)), by_cause)))
        extensions.append(Extension(f"{failed} otherwise", (_destination(exactly(failed), Action("hangup", "${originate_disposition}")),)))
        return extensions

    def schedule(self, context: str, schedule: Schedule) -> list[Extension]:
        hours = schedule.hours
        here = Condition(field="destination_number", expression=exactly(schedule.node))
        extensions = [
            Extension(
                f"{schedule.node} closed {day.isoformat()}",
                (here, Condition(time=(("year", str(day.year)), ("mon", str(day.month)), ("mday", str(day.day))), actions=(_transfer(schedule.closed, context),))),
            )
            for day in sorted(hours.closed_dates)
        ]
        # time-of-day ranges include their end second; business hours end at `close`.
        last_second = (hours.close.hour * 3600 + hours.close.minute * 60 + hours.close.second) - 1
        until = f"{last_second // 3600:02d}:{last_second // 60 % 60:02d}:{last_second % 60:02d}"
        when = (("wday", ",".join(day.value for day in hours.days)), ("time-of-day", f"{hours.open:%H:%M:%S}-{until}"))
        opening = Condition(time=when, actions=(_transfer(schedule.open, context),), anti_actions=(_transfer(schedule.closed, context),))
        extensions.append(Extension(f"{schedule.node} hours", (here, opening)))
        return extensions


def ivr_menus(site: Site, routes: SiteRoutes) -> tuple[IvrMenu, ...]:
    menus = []
    for org in routes.organizations:
        context = fs_names.incoming_context(org.org_id)
        for node in org.nodes:
            if isinstance(node, Menu):
                menu = site.organizations[org.org_id].ivr_menus[node.menu]
                entries = tuple((digit, _app_line(_transfer(target, context))) for digit, target in node.options)
                menus.append(
                    IvrMenu(
                        fs_names.ivr_menu(org.org_id, node.menu),
                        menu.greeting,
                        menu.invalid_sound,
                        menu.timeout_seconds * 1000,
                        menu.max_failures,
                        entries,
                    )
                )
    return tuple(menus)


def contexts(site: Site, routes: SiteRoutes) -> tuple[tuple[Context, ...], dict[str, tuple[Context, ...]]]:
    """The site-wide contexts, and each organization's contexts by its ID."""
    spelling = _Spelling(site)
    site_wide = (spelling.public(routes), spelling.main_number_refusal())
    per_org = {org.org_id: (spelling.phones(org), spelling.incoming_calls(org)) for org in routes.organizations}
    return site_wide, per_org
