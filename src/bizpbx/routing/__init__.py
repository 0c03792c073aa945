"""Routing: which steps a call goes through, decided by pure functions over the site."""

from bizpbx.routing.plan import (
    Answer,
    Bridge,
    Call,
    Collect,
    Hangup,
    Leg,
    Menu,
    Outcome,
    Pickup,
    Plan,
    Play,
    Source,
    Step,
    Voicemail,
)
from bizpbx.routing.walk import is_waiting, route, route_after_digits, route_menu_choice

__all__ = [
    "Answer",
    "Bridge",
    "Call",
    "Collect",
    "Hangup",
    "Leg",
    "Menu",
    "Outcome",
    "Pickup",
    "Plan",
    "Play",
    "Source",
    "Step",
    "Voicemail",
    "is_waiting",
    "route",
    "route_after_digits",
    "route_menu_choice",
]
