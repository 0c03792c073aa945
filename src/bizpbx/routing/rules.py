"""The hosted service's routing rules (RULES.md) as pure functions.

`route` plans a new call; `route_after_digits` continues after the caller
entered an organization ID on the main number; `route_menu_choice` continues
after a key (or none) in an IVR menu. Each returns a `Plan`; none does I/O.
"""

from __future__ import annotations

from datetime import datetime

from bizpbx.routing.hours import is_open
from bizpbx.routing.plan import (
    Answer,
    Bridge,
    Call,
    Collect,
    Hangup,
    Leg,
    Menu,
    Plan,
    Play,
    Source,
    Step,
    Voicemail,
)
from bizpbx.numbers.e164 import e164_digits, is_russian
from bizpbx.settings import IncomingRule, NumberKind, Organization, Site, Target, TargetKind

# Rings before voicemail when an employee has a box but no no-answer forward.
VOICEMAIL_AFTER_SECONDS = 30
# Forwards followed one after another before the call gives up (as PBXs cap
# redirections); keeps every plan small whatever the forwarding settings.
MAX_FORWARD_HOPS = 5

# Messages a caller hears when a call cannot go on (FreeSWITCH's standard sounds).
SOUND_NOT_AVAILABLE = "ivr/ivr-not_available.wav"
SOUND_INVALID_NUMBER = "ivr/ivr-call_cannot_be_completed_as_dialed.wav"
SOUND_INTERNAL_ONLY = "ivr/ivr-you_are_not_authorized_to_make_calls.wav"



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
    org = site.organizations.get(digits)
    if org is None or not org.has_telephony:
        why = "no digits entered" if not digits else f"{digits} is not an organization that takes calls"
        return _refusal(site.main_number.invalid_prompt, "NO_ROUTE_DESTINATION", why, answered=True, direction="inbound")
    rule = next((r for r in org.incoming if r.number == "main"), None)
    return _to_organization(site, now, digits, org, rule, answered=True, why=f"organization {digits} ({org.name})")


def route_menu_choice(call: Call, site: Site, now: datetime, menu: Menu, digit: str | None) -> Plan:
    """A menu's continuation: the option for `digit`, or the fallback when no valid key came."""
    org = site.organizations[menu.org_id]
    chosen = dict(menu.options).get(digit) if digit else None
    builder = _Builder(site, now, menu.org_id, org)
    if chosen is not None:
        builder.target(chosen, path=(), answered=True, reason=f"menu {menu.name}: key {digit}")
    else:
        here = Target(TargetKind.IVR, menu.name)
        builder.target(menu.fallback, path=(*menu.path, here), answered=True, reason=f"menu {menu.name}: no valid key, fallback")
    return builder.plan("inbound")


def is_waiting(step: Step) -> bool:
    """Whether the step waits for the caller's keys (its continuation is planned afterwards)."""
    return isinstance(step, (Collect, Menu))


# --- calls from the trunk ----------------------------------------------------------


def _from_trunk(call: Call, site: Site, now: datetime) -> Plan:
    called = to_e164(call.destination)
    if called == site.main_number.number and site.trunk_delivering(called) is not None:
        main = site.main_number
        valid = tuple(sorted(org_id for org_id, org in site.organizations.items() if org.has_telephony))
        collect = Collect(
            prompt=main.prompt,
            invalid_prompt=main.invalid_prompt,
            max_attempts=main.max_attempts,
            timeout_seconds=main.digit_timeout_seconds,
            valid=valid,
            reason="the main number: the caller enters the organization ID",
        )
        return Plan((Answer(), collect), direction="inbound")
    entry = site.numbers.get(called) if called else None
    if entry is None or entry.organization is None:
        return Plan((Hangup("UNALLOCATED_NUMBER", f"{call.destination} is not a number of this site"),), direction="inbound")
    org_id = entry.organization
    org = site.organizations[org_id]
    if not org.has_telephony:
        why = f"organization {org_id} has no telephony plan: internal calls only"
        return Plan((Hangup("CALL_REJECTED", why),), org_id=org_id, direction="inbound")
    if entry.kind is NumberKind.HOTLINE:
        caller = to_e164(call.caller)
        if caller is None or not is_russian(caller[1:]):
            why = f"an 8-800 number takes callers in Russia only; caller {call.caller or '(none)'} is not, so the call is refused before answer"
            return Plan((Hangup("CALL_REJECTED", why),), org_id=org_id, direction="inbound")
    rule = next((r for r in org.incoming if r.number == called), None)
    return _to_organization(site, now, org_id, org, rule, answered=False, why=f"{entry.kind} number {called} of organization {org_id}")


def _to_organization(
    site: Site, now: datetime, org_id: str, org: Organization, rule: IncomingRule | None, *, answered: bool, why: str
) -> Plan:
    builder = _Builder(site, now, org_id, org)
    if rule is None:
        target, reason = Target(TargetKind.EXTENSION, org.owner), f"{why}: no incoming rule, the owner"
    elif rule.hours is None:
        target, reason = rule.target, f"{why}: incoming rule"
    elif is_open(rule.hours, now, site.zone):
        target, reason = rule.target, f"{why}: incoming rule, within business hours"
    else:
        target, reason = rule.after_hours, f"{why}: incoming rule, outside business hours"
    builder.target(target, path=(), answered=answered, reason=reason)
    return builder.plan("inbound")


# --- calls from phones ----------------------------------------------------------------


def _from_phone(call: Call, site: Site, now: datetime) -> Plan:
    org_id = call.org_id
    org = site.organizations.get(org_id)
    if org is None:
        return Plan((Hangup("CALL_REJECTED", f"the caller's organization {org_id} is not in the site"),))
    dialed = call.destination
    builder = _Builder(site, now, org_id, org)
    if dialed in org.employees:
        builder.target(Target(TargetKind.EXTENSION, dialed), path=(), answered=False, reason=f"extension {dialed} of organization {org_id}")
        return builder.plan("internal")
    group = next((name for name, g in org.ring_groups.items() if g.extension == dialed), None)
    if group is not None:
        builder.target(Target(TargetKind.GROUP, group), path=(), answered=False, reason=f"ring group {group} (extension {dialed})")
        return builder.plan("internal")
    number = to_e164(dialed)
    if number is None:
        return _refusal(SOUND_INVALID_NUMBER, "UNALLOCATED_NUMBER", f"{dialed} is neither an extension nor a phone number", answered=False, org_id=org_id)
    builder.target(Target(TargetKind.NUMBER, number), path=(), answered=False, reason=f"external number {number}")
    return builder.plan("outbound")


def _refusal(sound: str, cause: str, why: str, *, answered: bool, org_id: str | None = None, direction: str = "internal") -> Plan:
    steps: tuple[Step, ...] = (Play(sound, why), Hangup(cause, why))
    return Plan(steps if answered else (Answer(), *steps), org_id=org_id, direction=direction)


# --- targets ------------------------------------------------------------------------------


class _Builder:
    """Lays out the steps for a target and, depth first, for where each of its
    failures leads; a failure always jumps forward, so a plan cannot loop."""

    def __init__(self, site: Site, now: datetime, org_id: str, org: Organization) -> None:
        self.site = site
        self.now = now
        self.org_id = org_id
        self.org = org
        self.steps: list[Step | None] = []
        self._laid_out: dict[tuple, int] = {}

    def plan(self, direction: str) -> Plan:
        assert all(step is not None for step in self.steps)
        return Plan(tuple(self.steps), org_id=self.org_id, direction=direction)  # type: ignore[arg-type]

    def add(self, *steps: Step) -> int:
        first = len(self.steps)
        self.steps.extend(steps)
        return first

    def target(
        self,
        target: Target,
        *,
        path: tuple[Target, ...],
        answered: bool,
        reason: str,
        forwarded_from: str | None = None,
        cause: str = "NO_ANSWER",
    ) -> int:
        """The first step for `target`. `cause` is what the failure that led
        here ended with (busy: USER_BUSY...): a call stopped here, in a
        forwarding loop or after too many forwards, ends with it."""
        # A final step jumps nowhere, so each use can have its own (still
        # after the step that leads to it) and say why it was reached: a
        # voicemail reached on busy and on no answer tells which happened,
        # a loop closed on busy ends with USER_BUSY.
        if target in path:
            return self.add(Hangup(cause, f"{target} was already tried on this call ({reason}): stopping a forwarding loop"))
        if len(path) >= MAX_FORWARD_HOPS:
            return self.add(Hangup(cause, f"{MAX_FORWARD_HOPS} forwards in a row: giving up at {target}"))
        if target.kind in (TargetKind.VOICEMAIL, TargetKind.HANGUP):
            return self._lay_out(target, path, answered, reason, forwarded_from, cause)
        key = (target, path, answered, cause)
        if key not in self._laid_out:
            self._laid_out[key] = self._lay_out(target, path, answered, reason, forwarded_from, cause)
        return self._laid_out[key]

    def _lay_out(self, target: Target, path: tuple[Target, ...], answered: bool, reason: str, forwarded_from: str | None, cause: str) -> int:
        kind = target.kind
        if kind is TargetKind.HANGUP:
            return self.add(Hangup("NORMAL_CLEARING", reason))
        if kind is TargetKind.VOICEMAIL:
            return self.add(Voicemail(self.org_id, target.value, reason))
        if kind is TargetKind.EXTENSION:
            return self._extension(target, path, answered, reason, forwarded_from, cause)
        if kind is TargetKind.GROUP:
            return self._group(target, path, answered, reason)
        if kind is TargetKind.IVR:
            return self._menu(target, path, answered, reason)
        return self._number(target, path, answered, reason, forwarded_from)

    def _placeholder(self) -> int:
        self.steps.append(None)
        return len(self.steps) - 1

    def _extension(self, target: Target, path: tuple[Target, ...], answered: bool, reason: str, forwarded_from: str | None, cause: str) -> int:
        ext = target.value
        employee = self.org.employees.get(ext)
        if employee is None:
            return self.add(Hangup("UNALLOCATED_NUMBER", f"{reason}: no employee {ext}"))
        forwarding = employee.forwarding
        onward = (*path, target)
        if forwarding.unconditional is not None:
            return self.target(
                forwarding.unconditional, path=onward, answered=answered, reason=f"{ext} forwards every call", forwarded_from=ext, cause=cause
            )
        voicemail = Target(TargetKind.VOICEMAIL, ext) if employee.voicemail.enabled else None
        if forwarding.no_answer is not None:
            ring_seconds: int | None = forwarding.no_answer.after_seconds
        else:
            ring_seconds = VOICEMAIL_AFTER_SECONDS if voicemail else None
        index = self._placeholder()
        outcomes = {}
        for outcome, forward, failure_cause in (
            ("busy", forwarding.busy, "USER_BUSY"),
            ("no answer", forwarding.no_answer.to if forwarding.no_answer else None, "NO_ANSWER"),
            ("unavailable", forwarding.unavailable, "USER_NOT_REGISTERED"),
        ):
            destination = forward or voicemail
            if destination is None:
                outcomes[outcome] = self.add(Hangup(failure_cause, f"{ext}: {outcome}, no forwarding"))
            else:
                outcomes[outcome] = self.target(destination, path=onward, answered=answered, reason=f"{ext}: {outcome}", forwarded_from=ext, cause=failure_cause)
        self.steps[index] = Bridge(
            target=target,
            legs=(Leg(self.org_id, extension=ext),),
            ring_seconds=ring_seconds,
            on_busy=outcomes["busy"],
            on_no_answer=outcomes["no answer"],
            on_unavailable=outcomes["unavailable"],
            check_registration=True,
            forwarded_from=forwarded_from,
            reason=reason,
        )
        return index

    def _group(self, target: Target, path: tuple[Target, ...], answered: bool, reason: str) -> int:
        group = self.org.ring_groups.get(target.value)
        if group is None:
            return self.add(Hangup("UNALLOCATED_NUMBER", f"{reason}: no ring group {target.value}"))
        members = [m for m in group.members if m in self.org.employees]
        legs = [Leg(self.org_id, extension=m) for m in members]
        rings = [tuple(legs)] if group.strategy == "simultaneous" else [(leg,) for leg in legs]
        indices = [self._placeholder() for _ in rings]
        onward = (*path, target)
        fallback = group.fallback
        if fallback is None:
            after = self.add(Hangup("NO_ANSWER", f"ring group {target.value}: nobody answered, no fallback"))
        else:
            after = self.target(fallback, path=onward, answered=answered, reason=f"ring group {target.value}: nobody answered")
        for position, (index, ring) in enumerate(zip(indices, rings)):
            following = indices[position + 1] if position + 1 < len(indices) else after
            self.steps[index] = Bridge(
                target=target,
                legs=ring,
                ring_seconds=group.ring_seconds,
                on_busy=following,
                on_no_answer=following,
                on_unavailable=following,
                check_registration=len(ring) == 1,
                reason=f"{reason}: {group.strategy}" + (f", member {position + 1} of {len(rings)}" if len(rings) > 1 else ""),
            )
        return indices[0] if indices else after

    def _menu(self, target: Target, path: tuple[Target, ...], answered: bool, reason: str) -> int:
        menu = self.org.ivr_menus.get(target.value)
        if menu is None:
            return self.add(Hangup("UNALLOCATED_NUMBER", f"{reason}: no IVR menu {target.value}"))
        step = Menu(
            org_id=self.org_id,
            name=target.value,
            greeting=menu.greeting,
            options=tuple(sorted(menu.options.items())),
            timeout_seconds=menu.timeout_seconds,
            max_failures=menu.max_failures,
            invalid_sound=menu.invalid_sound,
            fallback=menu.fallback,
            path=path,
            reason=reason,
        )
        return self.add(step) if answered else self.add(Answer(), step)

    def _number(self, target: Target, path: tuple[Target, ...], answered: bool, reason: str, forwarded_from: str | None) -> int:
        if not self.org.has_telephony:
            why = f"{reason}: organization {self.org_id} has no telephony plan, internal calls only"
            steps: tuple[Step, ...] = (Play(SOUND_INTERNAL_ONLY, why), Hangup("CALL_REJECTED", why))
            return self.add(*steps) if answered else self.add(Answer(), *steps)
        trunk_name, trunk = self.site.trunk_for(self.org)
        leg = Leg(self.org_id, number=target.value, trunk=trunk_name, caller_id=self.org.caller_id or trunk.caller_id)
        index = self._placeholder()
        failed = self.add(Hangup("NORMAL_TEMPORARY_FAILURE", f"{target}: not reached"))
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
