"""The dialplan contexts of a site, as plain data the dialplan template writes out.

Routing decisions come from the route graph (`bizpbx.routing.graph`), which
the controller walks too; this module only spells them in FreeSWITCH's XML
dialplan: which conditions, which applications.

Every call first goes to the controller: the dialplan parks it (`park`),
where the controller finds it on its event socket (CHANNEL_PARK) and runs
applications on it, after cancelling the transfer the dialplan scheduled
just before (`fs.park_steps`). That transfer, when the controller has not
taken the call in time, and the controller's own hand-back (a call pickup,
a shutdown) send the call through the same extension of the context's
fallback twin (`fs.fallback_context`), which holds the static fallback. The
bridges' settings (`fs.BRIDGE_SETTINGS`) are set before the park: a call the
controller has bridged ends with the bridge, and the controller spends no
round trip setting them.
"""

from __future__ import annotations

from bizpbx import fs_vocabulary as fs
from bizpbx.fs_vocabulary import BUSY_CAUSES, NO_ANSWER_CAUSES, UNAVAILABLE_CAUSES, Var
from bizpbx.render.dialplan_parts import (
    FAILED_AS_IT_ENDED,
    LOOP_VARIABLE,
    MENU_LOOP_VARIABLE,
    Action,
    Condition,
    Context,
    Extension,
    IvrConfMenu,
    app_line,
    destination,
    exactly,
    looping,
    number_pattern,
    one_of,
    refusal,
    set_variable,
    transfer,
)
from bizpbx.settings import Site
from bizpbx.routing.callers import blocked_expression
from bizpbx.routing.graph import (
    BLOCKED_CAUSE,
    DIAL_OUT_FAILED,
    EXTENSION_NODE,
    EXTERNAL_NUMBER,
    PICKUP_CODE,
    SOUND_INTERNAL_ONLY,
    SOUND_INVALID_NUMBER,
    DialOut,
    Forward,
    Incoming,
    Ivr,
    Node,
    OrganizationRoutes,
    Recording,
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
VOICEMAIL_CHECK = "*97"
MAIN_NODE = number_node("main")  # where the main number's callers enter an organization


def _rings_plainly(node: Node) -> bool:
    return (
        isinstance(node, Ring)
        and node.node == EXTENSION_NODE + node.extensions[0]
        and node.ring_seconds is None
        and node.on_busy is None
        and node.on_no_answer is None
        and node.on_unavailable is None
    )


class _Spelling:
    """FreeSWITCH spelling of the decisions, for one site."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def recording(self, recording: Recording | None, *, answered: bool = False) -> tuple[Action, ...]:
        """What makes the switch record the call (before the controller sees it, so that the
        recording does not depend on the controller staying up)."""
        if recording is None or not recording.record:
            return ()
        notice = self.site.recordings.notice if recording.notice else None
        return tuple(Action(app, data) for app, data in fs.recording_steps(str(self.site.recordings.dir), notice, answered=answered))

    def by_phone(self, org: OrganizationRoutes, expression: str, actions: tuple[Action, ...]) -> tuple[Condition, ...]:
        """Conditions of a phones' extension: the actions, after the recording of the calls
        the phone that places the call (its directory user) has recorded."""
        recorded = [fs.user_id(org.org_id, ext) for ext, recording in org.phone_recordings if recording.record]
        if not recorded:
            return (destination(expression, *actions),)
        armed = self.recording(next(recording for _, recording in org.phone_recordings if recording.record))
        if len(recorded) == len(org.phone_recordings):
            return (destination(expression, *armed, *actions),)
        by_user = Condition(field=f"${{{Var.USER_ID}}}", expression=one_of(recorded), actions=(*armed, *actions), anti_actions=actions)
        return (Condition(field="destination_number", expression=expression), by_user)

    def to_controller(self, context: str, **variables: str) -> tuple[Action, ...]:
        # One application, not a `set` each: every application's completion is an event the switch
        # weighs for the controller's event socket.
        settings = {str(Var[name.upper()]): value for name, value in variables.items()} | fs.BRIDGE_SETTINGS
        return (Action("multiset", fs.multiset(settings)), *(Action(app, data) for app, data in fs.park_steps(context)))

    # --- the public context: numbers from the trunk ---------------------------------

    def public(self, routes: SiteRoutes) -> tuple[Context, Context]:
        """The public context and its fallback twin."""
        unknown = Extension("not a number of the site", (destination("^", Action("hangup", "UNALLOCATED_NUMBER")),))
        parked, fallbacks = zip(*(self.incoming(entry, routes) for entry in routes.incoming)) if routes.incoming else ((), ())
        return Context(fs.PUBLIC_CONTEXT, (*parked, unknown)), Context(fs.fallback_context(fs.PUBLIC_CONTEXT), fallbacks)

    def incoming(self, entry: Incoming, routes: SiteRoutes) -> tuple[Extension, Extension]:
        """A number's extension, and its twin in the fallback context."""
        handover = self.to_controller(
            fs.PUBLIC_CONTEXT,
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
            onward = transfer(entry.node, fs.incoming_context(entry.org_id))
            if entry.callers is None and not entry.blocklist:
                fallback = (onward,)
            else:
                # Callers an 8-800 number does not take, and the blocklist's, are refused alike.
                fallback = ()
                callers = entry.callers or "^"
                if entry.blocklist:
                    callers = f"(?!{blocked_expression(entry.blocklist)}){callers}"
                refused = (Action("hangup", BLOCKED_CAUSE),)
                screening = (Condition(field="caller_id_number", expression=callers, actions=(onward,), anti_actions=refused),)
        armed = self.recording(entry.recording)
        name, expression = f"number {entry.number}", number_pattern(entry.number)
        return Extension(name, (destination(expression, *armed, *handover),)), Extension(name, (destination(expression, *fallback), *screening))

    def main_number(self, routes: SiteRoutes) -> tuple[Action, ...]:
        """Ask for the organization ID, then go to that organization's `main` node."""
        if not routes.main_number_ids:
            return (Action("hangup", "NO_ROUTE_DESTINATION"),)
        main = self.site.main_number
        ids = routes.main_number_ids
        fewest, most = fs.entry_digits(ids)
        collect = fs.play_and_get_digits(
            min_digits=fewest,
            max_digits=most,
            tries=main.max_attempts,
            timeout_ms=main.digit_timeout_seconds * 1000,
            terminators="#",
            prompt=main.prompt,
            invalid_prompt=main.invalid_prompt,
            variable=Var.ORG_ID,
            pattern="^(?:" + "|".join(ids) + ")$",
            on_failure=f"refused XML {fs.MAIN_NUMBER_CONTEXT}",
        )
        return (Action("answer"), Action("play_and_get_digits", collect), transfer(f"${{{Var.ORG_ID}}}", fs.MAIN_NUMBER_CONTEXT))

    def main_number_entered(self, routes: SiteRoutes) -> Context:
        """Each organization ID entered on the main number: its blocklist, its recording, then its `main` node."""
        entered = [Extension(org.org_id, self.organization_entered(org)) for org in routes.organizations if org.main is not None]
        refused = destination(exactly("refused"), Action("hangup", "NO_ROUTE_DESTINATION"))
        return Context(fs.MAIN_NUMBER_CONTEXT, (*entered, Extension("refused", (refused,))))

    def organization_entered(self, org: OrganizationRoutes) -> tuple[Condition, ...]:
        # A blocked caller is refused before anything is recorded.
        onward = (*self.recording(org.main_recording, answered=True), transfer(MAIN_NODE, fs.incoming_context(org.org_id)))
        if not org.blocklist:
            return (destination(exactly(org.org_id), *onward),)
        refused = (Action("hangup", BLOCKED_CAUSE),)
        screening = Condition(field="caller_id_number", expression=blocked_expression(org.blocklist), actions=refused, anti_actions=onward)
        return (Condition(field="destination_number", expression=exactly(org.org_id)), screening)

    # --- an organization: its phones and its incoming calls -------------------------

    def phones(self, org: OrganizationRoutes) -> tuple[Context, Context]:
        """The context of the organization's phones, and its fallback twin."""
        context, incoming = fs.phones_context(org.org_id), fs.incoming_context(org.org_id)
        parked: list[Extension] = []
        fallbacks: list[Extension] = []

        def handed_over(name: str, expression: str, fallback: tuple[Action, ...], *, before: tuple[Action, ...] = (), recorded: bool = True, **variables: str) -> None:
            handover = (*before, *self.to_controller(context, org_id=org.org_id, **variables))
            conditions = self.by_phone(org, expression, handover) if recorded else (destination(expression, *handover),)
            parked.append(Extension(name, conditions))
            fallbacks.append(Extension(name, (destination(expression, *fallback),)))

        # One extension for every employee (each to the node of the same
        # name); a ring group's extension has one of its own.
        employees = [dialled for dialled, node in org.dialable if node == EXTENSION_NODE + dialled]
        # ${destination_number}, not $1: a condition on the phone's user may follow the number's.
        handed_over("employees", one_of(employees), (transfer(f"{EXTENSION_NODE}${{destination_number}}", incoming),), direction="internal")
        for dialled, node in org.dialable:
            if dialled not in employees:
                handed_over(dialled, exactly(dialled), (transfer(node, incoming),), direction="internal")
        if org.voicemail_boxes:
            check = Action("voicemail", fs.voicemail_check())
            parked.append(Extension("voicemail check", (destination(exactly(VOICEMAIL_CHECK), Action("answer"), check),)))
        if org.outbound is not None:
            caller_id = (set_variable("effective_caller_id_number", org.outbound.caller_id),) if org.outbound.caller_id else ()
            guard_down = Action("hangup", GUARD_DOWN_CAUSE)
            handed_over("outbound", EXTERNAL_NUMBER, (guard_down,), before=caller_id, direction="outbound", trunk=org.outbound.trunk)
        else:
            handed_over("internal calls only", EXTERNAL_NUMBER, refusal("CALL_REJECTED", SOUND_INTERNAL_ONLY), direction="outbound")
        # Picked up: the ringing call's own recording (armed where it entered) goes on.
        pickup = Action("intercept", fs.ringing_call(org.org_id))
        handed_over("call pickup", exactly(PICKUP_CODE), (pickup,), recorded=False, direction="internal")
        handed_over("not a number", "^", refusal("UNALLOCATED_NUMBER", SOUND_INVALID_NUMBER), direction="internal")
        return Context(context, tuple(parked)), Context(fs.fallback_context(context), tuple(fallbacks))

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
            extensions.append(Extension(MAIN_NODE, (destination(exactly(MAIN_NODE), transfer(org.main, context)),)))
        return Context(context, tuple(extensions))

    def plain_rings(self, org_id: str, extensions: list[str]) -> Extension:
        nodes = one_of(extensions, prefix=EXTENSION_NODE)
        dial = fs.ringing_dial(fs.user_dial(org_id, "$1"), org_id)
        return Extension("phones without forwarding", (destination(nodes, Action("bridge", dial), FAILED_AS_IT_ENDED),))

    def node(self, org_id: str, context: str, node: Node) -> list[Extension]:
        here = exactly(node.node)
        if isinstance(node, Ring):
            return self.ring(org_id, context, node)
        if isinstance(node, Forward):
            return [looping(node.node, node.in_loop, (transfer(node.to, context),))]
        if isinstance(node, Ivr):
            return [looping(node.node, node.in_loop, self.menu(org_id, context, node))]
        if isinstance(node, VoicemailBox):
            box = fs.voicemail_box(org_id, node.extension)
            # As the controller does: the CDR tells the call ended in voicemail (call.missed, voicemail: true).
            ended_in = set_variable(Var.VOICEMAIL, node.extension)
            greeting = set_variable(fs.VOICEMAIL_GREETING_ID, node.extension)
            return [Extension(node.node, (destination(here, ended_in, greeting, Action("answer"), Action("voicemail", box), Action("hangup")),))]
        if isinstance(node, DialOut):
            caller_id = (set_variable("effective_caller_id_number", node.caller_id),) if node.caller_id else ()
            dial = Action("bridge", fs.gateway_dial(node.trunk, node.number))
            actions = (*caller_id, set_variable(Var.TRUNK, node.trunk), set_variable("continue_on_fail", "true"), dial, Action("hangup", DIAL_OUT_FAILED))
            return [Extension(node.node, (destination(here, *actions),))]
        if isinstance(node, Refuse):
            return [Extension(node.node, (destination(here, *refusal(node.cause, node.sound)),))]
        return self.schedule(context, node)

    def menu(self, org_id: str, context: str, node: Ivr) -> tuple[Action, ...]:
        ivr = Action("ivr", fs.ivr_menu(org_id, node.menu))
        fallback = transfer(node.fallback, context)
        if not node.counts_loops:
            return (Action("answer"), ivr, fallback)
        # A chosen option counts loops afresh; the fallback goes on with the
        # count (and, with no bridge since, a loop closed ends NORMAL_CLEARING).
        keep = set_variable(MENU_LOOP_VARIABLE, f"${{{LOOP_VARIABLE}}}")
        fresh = (Action("unset", LOOP_VARIABLE), Action("unset", "originate_disposition"))
        return (Action("answer"), keep, *fresh, ivr, set_variable(LOOP_VARIABLE, f"${{{MENU_LOOP_VARIABLE}}}"), fallback)

    def ring(self, org_id: str, context: str, ring: Ring) -> list[Extension]:
        legs = [fs.user_dial(org_id, ext) for ext in ring.extensions]
        if ring.sequential and ring.ring_seconds is not None:
            dial = "|".join(f"[leg_timeout={ring.ring_seconds}]{leg}" for leg in legs)
        else:
            dial = ("|" if ring.sequential else ",").join(legs)
        dial = fs.ringing_dial(dial, org_id)
        timer = (set_variable("call_timeout", str(ring.ring_seconds)),) if ring.ring_seconds is not None and not ring.sequential else ()
        outcomes = ((BUSY_CAUSES, ring.on_busy), (NO_ANSWER_CAUSES, ring.on_no_answer), (UNAVAILABLE_CAUSES, ring.on_unavailable))
        if all(node is None for _, node in outcomes):
            # No forwarding: a failed bridge hangs the caller up with its cause (also when an
            # earlier ring of the call set continue_on_fail).
            ringing = (Action("bridge", dial), FAILED_AS_IT_ENDED)
            return [Extension(ring.node, (destination(exactly(ring.node), *timer, *ringing),))]
        failed = f"{ring.node}-failed"
        ringing = (set_variable("continue_on_fail", "true"), Action("bridge", dial), Action("hash", fs.pickup_withdraw(org_id)))
        actions = (*timer, *ringing, transfer(failed, context))
        extensions = [looping(ring.node, ring.in_loop, actions)]
        for causes, node in outcomes:
            if node is not None:
                by_cause = Condition(field="${originate_disposition}", expression="^(?:" + "|".join(causes) + ")$", actions=(transfer(node, context),))
                extensions.append(Extension(f"{failed} {causes[0].lower()}", (Condition(field="destination_number", expression=exactly(failed)), by_cause)))
        extensions.append(Extension(f"{failed} otherwise", (destination(exactly(failed), Action("hangup", "${originate_disposition}")),)))
        return extensions

    def schedule(self, context: str, schedule: Schedule) -> list[Extension]:
        hours = schedule.hours
        here = Condition(field="destination_number", expression=exactly(schedule.node))
        extensions = [
            Extension(
                f"{schedule.node} closed {day.isoformat()}",
                (here, Condition(time=(("year", str(day.year)), ("mon", str(day.month)), ("mday", str(day.day))), actions=(transfer(schedule.closed, context),))),
            )
            for day in sorted(hours.closed_dates)
        ]
        # time-of-day ranges include their end second; business hours end at `close`.
        last_second = (hours.close.hour * 3600 + hours.close.minute * 60 + hours.close.second) - 1
        until = f"{last_second // 3600:02d}:{last_second // 60 % 60:02d}:{last_second % 60:02d}"
        when = (("wday", ",".join(day.value for day in hours.days)), ("time-of-day", f"{hours.open:%H:%M:%S}-{until}"))
        opening = Condition(time=when, actions=(transfer(schedule.open, context),), anti_actions=(transfer(schedule.closed, context),))
        extensions.append(Extension(f"{schedule.node} hours", (here, opening)))
        return extensions


def ivr_menus(site: Site, routes: SiteRoutes) -> tuple[IvrConfMenu, ...]:
    menus = []
    for org in routes.organizations:
        context = fs.incoming_context(org.org_id)
        for node in org.nodes:
            if isinstance(node, Ivr):
                menu = site.organizations[org.org_id].ivr_menus[node.menu]
                entries = tuple((digit, app_line(transfer(target, context))) for digit, target in node.options)
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
    site_wide = (*spelling.public(routes), spelling.main_number_entered(routes))
    per_org = {org.org_id: (*spelling.phones(org), spelling.incoming_calls(org)) for org in routes.organizations}
    return site_wide, per_org
