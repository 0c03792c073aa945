"""Two machines that run one call with the same phones and the same caller:
the static fallback dialplan as FreeSWITCH hunts and executes it (rendered
contexts and ivr.conf menus), and the controller's plans as the executor
runs them. Each returns the trace of what the caller went through.

The dialplan machine follows mod_dialplan_xml's rules (1.10): an extension's
conditions are evaluated in order; a failing one queues its anti-actions and
ends the extension (break on-false); the hunt stops at the first extension
whose last evaluated condition passed, and every queued action runs in order.
Conditions see variables as they are at hunt time, actions at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from bizpbx.fs_vocabulary import RECORD_ON_ANSWER, Var
from bizpbx.render.dialplan_parts import Action, Context, IvrConfMenu
from bizpbx.routing import Bridge, Call, Collect, Hangup, Menu, Outcome, Pickup, Play, Voicemail, is_waiting, route, route_after_digits, route_menu_choice
from bizpbx.settings import Site

# What a phone does when rung, and the disposition the switch reports for it.
DISPOSITIONS = {"busy": "USER_BUSY", "no_answer": "NO_ANSWER", "unavailable": "USER_NOT_REGISTERED"}
OUTCOMES = {"busy": Outcome.BUSY, "no_answer": Outcome.NO_ANSWER, "unavailable": Outcome.UNAVAILABLE}
MAX_MOVES = 200  # more transfers or steps than this: the machine goes round in circles


@dataclass
class World:
    """The phones' answers, one per ring (or dial out), and the caller's keys,
    one entry per prompt, consumed in order; when they run out nobody answers
    and the caller presses nothing."""

    rings: list[str]
    keys: list[str]
    trace: list[tuple] = field(default_factory=list)

    def ring(self, what: tuple) -> str:
        self.trace.append(what)
        result = self.rings.pop(0) if self.rings else "no_answer"
        if result == "answer":
            self.trace.append(("answered",))
        return result

    def key(self) -> str:
        return self.keys.pop(0) if self.keys else ""


class CallEnded(Exception):
    pass


def _rung(leg: str) -> tuple:
    leg = re.sub(r"^\[[^\]]*\]", "", leg)  # [leg_timeout=15]user/12-101@${domain}
    if leg.startswith("sofia/gateway/"):
        return ("dial", leg.rsplit("/", 1)[1])
    return ("ring", (leg.removeprefix("user/").split("@")[0].split("-", 1)[1],))


class DialplanMachine:
    def __init__(self, site: Site, contexts: dict[str, Context], menus: tuple[IvrConfMenu, ...], now: datetime) -> None:
        self.site = site
        self.contexts = contexts
        self.menus = {menu.name: menu for menu in menus}
        self.local = now.astimezone(site.zone)

    def run(self, context: str, destination: str, caller: str, world: World, user: str | None = None) -> list[tuple]:
        variables = {"caller_id_number": caller, "destination_number": destination, **({Var.USER_ID: user} if user else {})}
        moves = 0
        try:
            while True:
                moves += 1
                assert moves < MAX_MOVES, f"the dialplan goes round in circles: {world.trace}"
                actions = self._hunt(context, variables)
                if not actions:
                    world.trace.append(("hangup", "NO_ROUTE_DESTINATION"))
                    raise CallEnded
                onward = self._execute(actions, variables, world)
                if onward is None:
                    world.trace.append(("hangup", "NORMAL_CLEARING"))  # the dialplan ran out of actions
                    raise CallEnded
                destination, context = onward
                variables["destination_number"] = destination
        except CallEnded:
            return world.trace

    def _hunt(self, context: str, variables: dict[str, str]) -> list[Action]:
        queued: list[Action] = []
        for extension in self.contexts[context].extensions:
            proceed = False
            for condition in extension.conditions:
                captures: tuple[str, ...] = ()
                if condition.time:
                    proceed = all(self._time_matches(name, value) for name, value in condition.time)
                else:
                    field = condition.field
                    value = _expand(field, variables) if field.startswith("$") else variables.get(field, "")
                    found = re.search(condition.expression, value)
                    proceed = found is not None
                    captures = found.groups() if found else ()
                chosen = condition.actions if proceed else condition.anti_actions
                queued += [Action(a.application, _captured(a.data, captures)) for a in chosen]
                if not proceed:
                    break
            if proceed:
                return queued
        return queued

    def _time_matches(self, name: str, value: str) -> bool:
        local = self.local
        if name == "wday":
            return local.strftime("%a").lower() in value.split(",")
        if name == "time-of-day":
            start, end = value.split("-")
            return start <= local.strftime("%H:%M:%S") <= end
        return {"year": local.year, "mon": local.month, "mday": local.day}[name] == int(value)

    def _execute(self, actions: list[Action], variables: dict[str, str], world: World) -> tuple[str, str] | None:
        for action in actions:
            app, data = action.application, _expand(action.data, variables)
            if app == "set":
                name, _, value = data.partition("=")
                variables[name] = value
                if name == RECORD_ON_ANSWER:  # recorded from the answer: the trace shows it armed
                    world.trace.append(("record", variables.get("bridge_pre_execute_aleg_data")))
            elif app == "record_session":
                world.trace.append(("record", variables.get("bridge_pre_execute_aleg_data")))
            elif app == "unset":
                variables.pop(data, None)
            elif app == "sched_transfer":
                _, destination, _, context = data.split(" ")
                scheduled = destination, context
            elif app == "park":  # the controller is not there: the transfer scheduled before runs
                return scheduled
            elif app == "transfer":
                destination, _, context = data.split(" ")
                return destination, context
            elif app == "hangup":
                world.trace.append(("hangup", data or "NORMAL_CLEARING"))
                raise CallEnded
            elif app == "bridge":
                self._bridge(data, variables, world)
            elif app == "voicemail":
                world.trace.append(("voicemail", data.split(" ")[-1].split("-", 1)[1]))
            elif app == "intercept":  # call pickup: the organization whose ringing call it takes
                world.trace.append(("pickup", re.fullmatch(r"\$\{hash\(select/bizpbx_pickup/(\d+)\)\}", action.data).group(1)))
            elif app == "ivr":
                onward = self._ivr(self.menus[data], world)
                if onward is not None:
                    return onward
            elif app == "play_and_get_digits":
                onward = self._collect(data.split(" "), variables, world)
                if onward is not None:
                    return onward
            # answer, playback, hash: nothing the trace shows
        return None

    def _bridge(self, dial: str, variables: dict[str, str], world: World) -> None:
        # "a,b" rings together, "a|b" one after the other; {…} sets variables on every leg.
        for attempt in re.sub(r"^\{[^}]*\}", "", dial).split("|"):
            legs = [_rung(leg) for leg in attempt.split(",")]
            what = legs[0] if legs[0][0] == "dial" else ("ring", tuple(ext for _, (ext,) in legs))
            result = world.ring(what)
            if result == "answer":
                raise CallEnded
            variables["originate_disposition"] = DISPOSITIONS[result]
        if variables.get("continue_on_fail") != "true":
            world.trace.append(("hangup", variables["originate_disposition"]))
            raise CallEnded

    def _ivr(self, menu: IvrConfMenu, world: World) -> tuple[str, str] | None:
        world.trace.append(("menu", menu.name.split("-", 2)[2]))
        entries = dict(menu.entries)
        key = world.key()
        if key in entries:
            destination, _, context = entries[key].removeprefix("transfer ").split(" ")
            return destination, context
        return None

    def _collect(self, arguments: list[str], variables: dict[str, str], world: World) -> tuple[str, str] | None:
        world.trace.append(("collect",))
        entered = world.key()
        if re.search(arguments[8], entered):
            variables[arguments[7]] = entered
            return None
        return arguments[10], arguments[12]  # transfer on failure: "refused XML main-number"


def _expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: variables.get(m.group(1), ""), text)


def _captured(text: str, captures: tuple[str, ...]) -> str:
    return re.sub(r"\$(\d)", lambda m: captures[int(m.group(1)) - 1] or "", text) if captures else text


class ControllerMachine:
    """The executor's reading of plans, without the switch: bridges ask the world."""

    def __init__(self, site: Site, now: datetime) -> None:
        self.site = site
        self.now = now

    def run(self, call: Call, world: World) -> list[tuple]:
        plan = route(call, self.site, self.now)
        self._record(plan, world)
        index = 0
        for _ in range(MAX_MOVES):
            step = plan.steps[index]
            if isinstance(step, Hangup):
                world.trace.append(("hangup", step.cause))
                return world.trace
            if isinstance(step, Pickup):  # the switch intercepts after the controller hands the call back
                world.trace.append(("pickup", step.org_id))
                world.trace.append(("hangup", "NORMAL_CLEARING"))
                return world.trace
            if isinstance(step, Voicemail):
                world.trace.append(("voicemail", step.extension))
                world.trace.append(("hangup", "NORMAL_CLEARING"))
                return world.trace
            if is_waiting(step):
                if isinstance(step, Collect):
                    world.trace.append(("collect",))
                    entered = world.key()
                    plan = route_after_digits(call, self.site, self.now, entered if entered in step.valid else "")
                    self._record(plan, world)
                else:
                    assert isinstance(step, Menu)
                    world.trace.append(("menu", step.name))
                    key = world.key()
                    plan = route_menu_choice(call, self.site, self.now, step, key if key in dict(step.options) else None)
                index = 0
            elif isinstance(step, Bridge):
                leg = step.legs[0]
                what = ("dial", leg.number) if leg.external else ("ring", tuple(leg.extension for leg in step.legs))
                result = world.ring(what)
                if result == "answer":
                    return world.trace
                index = step.next_step(OUTCOMES[result])
            else:
                assert isinstance(step, Play) or step.action == "answer"
                index += 1
        raise AssertionError(f"the controller goes round in circles: {world.trace}")

    def _record(self, plan, world: World) -> None:
        if plan.recording is not None and plan.recording.record:
            world.trace.append(("record", self.site.recordings.notice if plan.recording.notice else None))
