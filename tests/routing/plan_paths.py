"""Every way a plan can run: the steps from the first to an end, for each bridge outcome."""

from __future__ import annotations

from bizpbx.routing import Bridge, Collect, Hangup, Menu, Outcome, Pickup, Plan, Play, Step, Voicemail


def runs(plan: Plan) -> list[tuple[Step, ...]]:
    """Each run ends at a final step, a step that waits for keys, or an answered bridge."""
    found: list[tuple[Step, ...]] = []

    def walk(index: int, so_far: tuple[Step, ...]) -> None:
        assert 0 <= index < len(plan.steps), f"step {index + 1} is outside the plan of {len(plan.steps)} steps"
        step = plan.steps[index]
        here = (*so_far, step)
        assert len(here) <= len(plan.steps), "a run is longer than its plan: it loops"
        if isinstance(step, (Hangup, Voicemail, Collect, Menu, Pickup)):
            found.append(here)
        elif isinstance(step, Bridge):
            found.append(here)  # answered
            for outcome in Outcome:
                following = step.next_step(outcome)
                assert following > index, f"step {index + 1} jumps back to {following + 1}"
                walk(following, here)
        else:
            walk(index + 1, here)

    walk(0, ())
    return found


def ending(run: tuple[Step, ...]) -> str:
    last = run[-1]
    if isinstance(last, Hangup) and len(run) > 1 and isinstance(run[-2], Play):
        return "message"
    return last.action
