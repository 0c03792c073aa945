"""The dialplan contexts of a site, as plain data the dialplan template writes out.

Routing decisions come from the route graph (`bizpbx.routing.graph`), which
the controller walks too; this module only spells them in FreeSWITCH's XML
dialplan: which conditions, which applications.

Every call first goes to the controller's socket (`socket … async full`).
FreeSWITCH goes on with the next action when the controller is not
listening or drops the call, so what follows the socket is the static
fallback. `hangup_after_bridge` is set before the socket, so a call the
controller has bridged ends with the bridge instead of being routed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bizpbx import fs_vocabulary as fs
from bizpbx.fs_vocabulary import BUSY_CAUSES, NO_ANSWER_CAUSES, UNAVAILABLE_CAUSES, Var
from bizpbx.settings import Site
from bizpbx.routing.graph import (
    DIAL_OUT_FAILED,
    EXTENSION_NODE,
    EXTERNAL_NUMBER,
    SOUND_INTERNAL_ONLY,
    SOUND_INVALID_NUMBER,
    DialOut,
    Forward,
    Incoming,
    Ivr,
    Node,
    OrganizationRoutes,
    Refuse,
    Ring,
    Schedule,
    SiteRoutes,
    VoicemailBox,
    number_node,
)


# The outbound fallback: without the controller nothing may leave through
# the trunk on a phone's request (the toll-fraud guard runs in the controller).
GUARD_DOWN_CAUSE = "NORMAL_TEMPORARY_FAILURE"
LOOP_VARIABLE = Var.RUNG
MENU_LOOP_VARIABLE = Var.MENU_RUNG
VOICEMAIL_CHECK = "*97"
MAIN_NODE = number_node("main")  # where the main number's callers enter an organization


@dataclass(frozen=True, slots=True)
class Action:
    application: str
    data: str = ""


FAILED_AS_IT_ENDED = Action("hangup", "${originate_disposition}")


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
class IvrConfMenu:
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


def _looping(node: str, in_loop: bool, actions: tuple[Action, ...]) -> Extension:
    """The extension of a node; one on a loop ends the call when reached a
    second time since the caller's last menu choice, with what the bridge
    that led back here ended with."""
    if not in_loop:
        return Extension(node, (_destination(exactly(node), *actions),))
    seen = Condition(
        field=f"${{{LOOP_VARIABLE}}}",
        expression=f"(?:^|,){re.escape(node)},",
        actions=(Action("hangup", "${originate_disposition}"),),
        anti_actions=(_set(LOOP_VARIABLE, f"${{{LOOP_VARIABLE}}}{node},"), *actions),
    )
    return Extension(node, (Condition(field="destination_number", expression=exactly(node)), seen))


def _refusal(cause: str, sound: str | None) -> tuple[Action, ...]:
    """Hang up with `cause`, after `sound` when there is one."""
    if sound is None:
        return (Action("hangup", cause),)
    return (Action("answer"), Action("playback", sound), Action("hangup", cause))


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

    def to_controller(self, **variables: str) -> tuple[Action, ...]:
        sets = tuple(_set(Var[name.upper()], value) for name, value in variables.items())
        return (*sets, _set("hangup_after_bridge", "true"), self.socket)

    # --- the public context: numbers from the trunk ---------------------------------

    def public(self, routes: SiteRoutes) -> Context:
        unknown = Extension("not a number of the site", (_destination("^", Action("hangup", "UNALLOCATED_NUMBER")),))
        return Context(fs.PUBLIC_CONTEXT, (*(self.incoming(entry, routes) for entry in routes.incoming), unknown))

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
            onward = _transfer(entry.node, fs.incoming_context(entry.org_id))
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
        collect = fs.play_and_get_digits(
            min_digits=min(map(len, ids)),
            max_digits=max(map(len, ids)),
            tries=main.max_attempts,
            timeout_ms=main.digit_timeout_seconds * 1000,
            terminators="#",
            prompt=main.prompt,
            invalid_prompt=main.invalid_prompt,
            variable=Var.ORG_ID,
            pattern="^(?:" + "|".join(ids) + ")$",
            on_failure=f"refused XML {fs.MAIN_NUMBER_CONTEXT}",
        )
        return (
            Action("answer"),
            Action("play_and_get_digits", collect),
            _transfer(MAIN_NODE, fs.incoming_context(f"${{{Var.ORG_ID}}}")),
        )

    def main_number_refusal(self) -> Context:
        refused = _destination(exactly("refused"), Action("hangup", "NO_ROUTE_DESTINATION"))
        return Context(fs.MAIN_NUMBER_CONTEXT, (Extension("refused", (refused,)),))

    # --- an organization: its phones and its incoming calls -------------------------

    def phones(self, org: OrganizationRoutes) -> Context:
        incoming = fs.incoming_context(org.org_id)
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
            check = Action("voicemail", fs.voicemail_check())
            extensions.append(Extension("voicemail check", (_destination(exactly(VOICEMAIL_CHECK), Action("answer"), check),)))
        if org.outbound is not None:
            caller_id = (_set("effective_caller_id_number", org.outbound.caller_id),) if org.outbound.caller_id else ()
            handover = self.to_controller(direction="outbound", org_id=org.org_id, trunk=org.outbound.trunk)
            guard_down = Action("hangup", GUARD_DOWN_CAUSE)
            extensions.append(Extension("outbound", (_destination(EXTERNAL_NUMBER, *caller_id, *handover, guard_down),)))
        else:
            handover = self.to_controller(direction="outbound", org_id=org.org_id)
            refused = _refusal("CALL_REJECTED", SOUND_INTERNAL_ONLY)
            extensions.append(Extension("internal calls only", (_destination(EXTERNAL_NUMBER, *handover, *refused),)))
        handover = self.to_controller(direction="internal", org_id=org.org_id)
        unknown = _refusal("UNALLOCATED_NUMBER", SOUND_INVALID_NUMBER)
        extensions.append(Extension("not a number", (_destination("^", *handover, *unknown),)))
        return Context(fs.phones_context(org.org_id), tuple(extensions))

    def incoming_calls(self, org: OrganizationRoutes) -> Context:
        context = fs.incoming_context(org.org_id)
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
        return Extension("phones without forwarding", (_destination(nodes, Action("bridge", fs.user_dial(org_id, "$1")), FAILED_AS_IT_ENDED),))

    def node(self, org_id: str, context: str, node: Node) -> list[Extension]:
        here = exactly(node.node)
        if isinstance(node, Ring):
            return self.ring(org_id, context, node)
        if isinstance(node, Forward):
            return [_looping(node.node, node.in_loop, (_transfer(node.to, context),))]
        if isinstance(node, Ivr):
            return [_looping(node.node, node.in_loop, self.menu(org_id, context, node))]
        if isinstance(node, VoicemailBox):
            box = fs.voicemail_box(org_id, node.extension)
            # As the controller does: the CDR tells the call ended in voicemail (call.missed, voicemail: true).
            ended_in = _set(Var.VOICEMAIL, node.extension)
            return [Extension(node.node, (_destination(here, ended_in, Action("answer"), Action("voicemail", box), Action("hangup")),))]
        if isinstance(node, DialOut):
            caller_id = (_set("effective_caller_id_number", node.caller_id),) if node.caller_id else ()
            dial = Action("bridge", fs.gateway_dial(node.trunk, node.number))
            actions = (*caller_id, _set(Var.TRUNK, node.trunk), _set("continue_on_fail", "true"), dial, Action("hangup", DIAL_OUT_FAILED))
            return [Extension(node.node, (_destination(here, *actions),))]
        if isinstance(node, Refuse):
            return [Extension(node.node, (_destination(here, *_refusal(node.cause, node.sound)),))]
        return self.schedule(context, node)

    def menu(self, org_id: str, context: str, node: Ivr) -> tuple[Action, ...]:
        ivr = Action("ivr", fs.ivr_menu(org_id, node.menu))
        fallback = _transfer(node.fallback, context)
        if not node.counts_loops:
            return (Action("answer"), ivr, fallback)
        # A chosen option counts loops afresh; the fallback goes on with the
        # count (and, with no bridge since, a loop closed ends NORMAL_CLEARING).
        keep = _set(MENU_LOOP_VARIABLE, f"${{{LOOP_VARIABLE}}}")
        fresh = (Action("unset", LOOP_VARIABLE), Action("unset", "originate_disposition"))
        return (Action("answer"), keep, *fresh, ivr, _set(LOOP_VARIABLE, f"${{{MENU_LOOP_VARIABLE}}}"), fallback)

    def ring(self, org_id: str, context: str, ring: Ring) -> list[Extension]:
        legs = [fs.user_dial(org_id, ext) for ext in ring.extensions]
        if ring.sequential and ring.ring_seconds is not None:
            dial = "|".join(f"[leg_timeout={ring.ring_seconds}]{leg}" for leg in legs)
        else:
            dial = ("|" if ring.sequential else ",").join(legs)
        timer = (_set("call_timeout", str(ring.ring_seconds)),) if ring.ring_seconds is not None and not ring.sequential else ()
        outcomes = ((BUSY_CAUSES, ring.on_busy), (NO_ANSWER_CAUSES, ring.on_no_answer), (UNAVAILABLE_CAUSES, ring.on_unavailable))
        if all(node is None for _, node in outcomes):
            # No forwarding: a failed bridge hangs the caller up with its cause (also when an
            # earlier ring of the call set continue_on_fail).
            return [Extension(ring.node, (_destination(exactly(ring.node), *timer, Action("bridge", dial), FAILED_AS_IT_ENDED),))]
        failed = f"{ring.node}-failed"
        actions = (*timer, _set("continue_on_fail", "true"), Action("bridge", dial), _transfer(failed, context))
        extensions = [_looping(ring.node, ring.in_loop, actions)]
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


def ivr_menus(site: Site, routes: SiteRoutes) -> tuple[IvrConfMenu, ...]:
    menus = []
    for org in routes.organizations:
        context = fs.incoming_context(org.org_id)
        for node in org.nodes:
            if isinstance(node, Ivr):
                menu = site.organizations[org.org_id].ivr_menus[node.menu]
                entries = tuple((digit, _app_line(_transfer(target, context))) for digit, target in node.options)
                menus.append(
                    IvrConfMenu(
                        fs.ivr_menu(org.org_id, node.menu),
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
