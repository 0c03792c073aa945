"""A call's plans, step by step, for people (`bizpbx route --explain`) and programs (`--json`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bizpbx.routing.graph import target_node
from bizpbx.routing.guard import REFUSAL_CAUSE, Refusal, destination_refusal
from bizpbx.routing.plan import Answer, Bridge, Call, Collect, Hangup, Menu, Pickup, Plan, Play, Step, Voicemail
from bizpbx.routing.walk import is_waiting, route, route_after_digits, route_menu_choice
from bizpbx.settings import Site, Target, TargetKind


@dataclass(frozen=True)
class Stage:
    """One plan of a call and what led to it (None: the call itself), with
    the toll-fraud guard's refusal of each bridge that the site alone decides
    (by step index)."""

    after: str | None
    plan: Plan
    refusals: Mapping[int, Refusal] = field(default_factory=dict)


def follow(call: Call, site: Site, now: datetime, keys: Sequence[str]) -> list[Stage]:
    """The call's plan, then the plan after each entry of `keys` (an entry
    per attempt at a waiting step, "" for no input), as far as the caller's
    keys go.

    A wrong entry (or none) at a prompt that allows more attempts asks again,
    as the switch does: the stage plays the invalid-entry sound and waits
    with one attempt less. A waiting step is followed only when the plan
    reaches it without a bridge first: what comes after a bridge depends on
    the phones, not on the caller.
    """
    stages = [_stage(None, route(call, site, now), site)]
    attempt = 1
    for entry in keys:
        waiting = _first_step_reached(stages[-1].plan)
        if waiting is None:
            break
        label = f"keys {entry}" if entry else "no keys (timeout)"
        where = "at the organization ID prompt" if isinstance(waiting, Collect) else f"in menu {waiting.name}"
        after = f"{label} {where}" + (f", attempt {attempt} of {attempt + _tries(waiting) - 1}" if attempt > 1 else "")
        if isinstance(waiting, Collect):
            accepted = entry in waiting.valid
            invalid_sound, why = waiting.invalid_prompt, f"{entry} is not an organization ID that takes calls" if entry else "no organization ID entered"
        else:
            accepted = entry in dict(waiting.options)
            invalid_sound, why = waiting.invalid_sound, f"no option {entry}" if entry else "no key pressed"
        if not accepted and _tries(waiting) > 1:
            left = _tries(waiting) - 1
            again = replace(waiting, **{_TRIES[type(waiting)]: left}, reason=f"{why}: the caller is asked again, {left} attempt(s) left")
            previous = stages[-1].plan
            stages.append(_stage(after, Plan((Play(invalid_sound, why), again), org_id=previous.org_id, direction=previous.direction), site))
            attempt += 1
            continue
        attempt = 1
        if isinstance(waiting, Collect):
            stages.append(_stage(after, route_after_digits(call, site, now, entry), site))
        else:
            stages.append(_stage(after, route_menu_choice(call, site, now, waiting, entry or None), site))
    return stages


# The field of a waiting step that counts the caller's attempts.
_TRIES = {Collect: "max_attempts", Menu: "max_failures"}


def _tries(step: Collect | Menu) -> int:
    return getattr(step, _TRIES[type(step)])


def _stage(after: str | None, plan: Plan, site: Site) -> Stage:
    return Stage(after, plan, _refusals(plan, site))


def _refusals(plan: Plan, site: Site) -> dict[int, Refusal]:
    """The guard's refusals the site alone decides (the controller's guard
    applies the same rule, then the limits it counts at call time)."""
    found = {}
    for index, step in enumerate(plan.steps):
        if isinstance(step, Bridge):
            for leg in step.legs:
                org = site.organizations.get(leg.org_id)
                refusal = destination_refusal(org.outbound, leg.org_id, leg.number) if leg.external and org is not None and leg.number else None
                if refusal is not None:
                    found[index] = refusal
                    break
    return found


def _first_step_reached(plan: Plan) -> Collect | Menu | None:
    for step in plan.steps:
        if is_waiting(step):
            return step  # type: ignore[return-value]
        if not isinstance(step, (Answer, Play)):
            return None
    return None


def step_as_dict(step: Step, refusal: Refusal | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"action": step.action, "target": target_of(step), "node": graph_node(step)}
    if isinstance(step, Bridge):
        data["legs"] = [str(leg) for leg in step.legs]
        data["ring_seconds"] = step.ring_seconds
        data["on"] = {"busy": step.on_busy + 1, "no_answer": step.on_no_answer + 1, "unavailable": step.on_unavailable + 1}
        if any(leg.external for leg in step.legs):
            data["guarded"] = True
        if refusal is not None:
            data["guard"] = {"refused": True, "rule": refusal.rule, "reason": refusal.reason, "sound": refusal.sound, "cause": REFUSAL_CAUSE}
    elif isinstance(step, Collect):
        data.update(valid=list(step.valid), max_attempts=step.max_attempts, timeout_seconds=step.timeout_seconds)
    elif isinstance(step, Menu):
        data.update(
            options={digit: str(target) for digit, target in step.options},
            timeout_seconds=step.timeout_seconds,
            max_failures=step.max_failures,
            fallback=str(step.fallback),
        )
    elif isinstance(step, Hangup):
        data["cause"] = step.cause
    data["reason"] = step.reason
    return data


def target_of(step: Step) -> str:
    if isinstance(step, Bridge):
        return str(step.target)
    if isinstance(step, Collect):
        return "organization ID"
    if isinstance(step, Menu):
        return f"ivr:{step.name}"
    if isinstance(step, Voicemail):
        return f"voicemail:{step.extension}"
    if isinstance(step, Play):
        return step.sound
    if isinstance(step, Pickup):
        return f"the call ringing in organization {step.org_id}"
    return ""


def describe(index: int, step: Step, refusal: Refusal | None = None) -> str:
    text = f"{index + 1}. {step.action}"
    target = target_of(step)
    if target:
        text += f" {target}"
    if isinstance(step, Bridge) and refusal is not None:
        legs = ", ".join(str(leg) for leg in step.legs)
        text += f" [{legs}] refused by the toll-fraud guard ({refusal.rule}): plays {refusal.sound}, then hangup {REFUSAL_CAUSE}"
        return text + f"  — {step.reason + '; ' if step.reason else ''}{refusal.reason}"
    if isinstance(step, Bridge):
        legs = ", ".join(str(leg) for leg in step.legs)
        ring = f"rings {step.ring_seconds} s" if step.ring_seconds else "rings until the caller gives up"
        text += f" [{legs}; {ring}; busy → {step.on_busy + 1}, no answer → {step.on_no_answer + 1}, unavailable → {step.on_unavailable + 1}]"
        if any(leg.external for leg in step.legs):
            text += " (toll-fraud guard first)"
    elif isinstance(step, Collect):
        text += f" [IDs {', '.join(step.valid) or 'none'}; {step.max_attempts} attempts, {step.timeout_seconds} s each] waits for the caller"
    elif isinstance(step, Menu):
        options = ", ".join(f"{digit} → {target}" for digit, target in step.options)
        text += f" [{options}; {step.max_failures} tries of {step.timeout_seconds} s, then {step.fallback}] waits for the caller"
    elif isinstance(step, Hangup):
        text += f" {step.cause}"
    if step.reason:
        text += f"  — {step.reason}"
    node = graph_node(step)
    return text + (f"  (route graph: {node})" if node else "")


def graph_node(step: Step) -> str | None:
    """The node of the route graph a step comes from (`bizpbx.routing.graph`)."""
    if isinstance(step, Bridge):
        return target_node(step.target)
    if isinstance(step, Menu):
        return target_node(Target(TargetKind.IVR, step.name))
    if isinstance(step, Voicemail):
        return target_node(Target(TargetKind.VOICEMAIL, step.extension))
    return None


def as_text(call: Call, stages: list[Stage]) -> str:
    lines = [f"call from {call.caller or '(no caller ID)'} to {call.destination} ({call.source}" + (f", organization {call.org_id})" if call.org_id else ")")]
    for stage in stages:
        plan = stage.plan
        lines.append("")
        lines.append(f"after {stage.after}:" if stage.after else "plan:")
        lines.append(f"  direction {plan.direction}, organization {plan.org_id or '(not yet known)'}")
        if plan.recording is not None:
            notice = ", after the recording notice" if plan.recording.record and plan.recording.notice else ""
            lines.append(f"  recording: {'on' if plan.recording.record else 'off'}{notice} ({plan.recording.why})")
        lines.extend(f"  {describe(i, step, stage.refusals.get(i))}" for i, step in enumerate(plan.steps))
    return "\n".join(lines)


def as_json(call: Call, stages: list[Stage]) -> dict[str, Any]:
    return {
        "call": {"source": str(call.source), "from": call.caller, "to": call.destination, "organization": call.org_id},
        "plans": [
            {
                "after": stage.after,
                "direction": stage.plan.direction,
                "organization": stage.plan.org_id,
                "recording": _recording(stage.plan),
                "steps": [step_as_dict(step, stage.refusals.get(i)) for i, step in enumerate(stage.plan.steps)],
            }
            for stage in stages
        ],
    }


def _recording(plan: Plan) -> dict[str, Any] | None:
    if plan.recording is None:
        return None
    return {"record": plan.recording.record, "notice": plan.recording.notice and plan.recording.record, "reason": plan.recording.why}
