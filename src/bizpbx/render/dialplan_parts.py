"""The pieces of FreeSWITCH's XML dialplan as plain data (actions,
conditions, extensions, contexts, ivr.conf menus) and the few spellings
every context is made of: exact matches, the number forms a trunk sends,
transfers, refusals and the loop guard.

`bizpbx.render.dialplan` builds the site's contexts from these; the
dialplan template writes them out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bizpbx.fs_vocabulary import Var

LOOP_VARIABLE = Var.RUNG
MENU_LOOP_VARIABLE = Var.MENU_RUNG


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


def one_of(texts: list[str], prefix: str = "") -> str:
    """Matches `prefix` and one of `texts`, which it captures as $1."""
    return f"^{re.escape(prefix)}(" + "|".join(re.escape(text) for text in texts) + ")$"


def set_variable(name: str, value: str) -> Action:
    return Action("set", f"{name}={value}")


def transfer(node: str, context: str) -> Action:
    return Action("transfer", f"{node} XML {context}")


def destination(expression: str, *actions: Action) -> Condition:
    return Condition(field="destination_number", expression=expression, actions=actions)


def looping(node: str, in_loop: bool, actions: tuple[Action, ...]) -> Extension:
    """The extension of a node; one on a loop ends the call when reached a
    second time since the caller's last menu choice, with what the bridge
    that led back here ended with."""
    if not in_loop:
        return Extension(node, (destination(exactly(node), *actions),))
    seen = Condition(
        field=f"${{{LOOP_VARIABLE}}}",
        expression=f"(?:^|,){re.escape(node)},",
        actions=(FAILED_AS_IT_ENDED,),
        anti_actions=(set_variable(LOOP_VARIABLE, f"${{{LOOP_VARIABLE}}}{node},"), *actions),
    )
    return Extension(node, (Condition(field="destination_number", expression=exactly(node)), seen))


def refusal(cause: str, sound: str | None) -> tuple[Action, ...]:
    """Hang up with `cause`, after `sound` when there is one."""
    if sound is None:
        return (Action("hangup", cause),)
    return (Action("answer"), Action("playback", sound), Action("hangup", cause))


def app_line(action: Action) -> str:
    """An application with its data, as menu-exec-app takes it."""
    return f"{action.application} {action.data}"
