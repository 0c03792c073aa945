"""Names bizpbx gives to FreeSWITCH objects, for the renderer and the controller.

A directory user's id is ``<organization ID>-<extension>`` (``12-101``): an
extension is unique only inside its organization, and the switch has one
domain, so the id carries both. Phones register with it as their SIP user
name; it is also the voicemail box id. A trunk's sofia gateway has the trunk's name.
"""

from __future__ import annotations


def user_id(org_id: str, extension: str) -> str:
    return f"{org_id}-{extension}"


def phones_context(org_id: str) -> str:
    """The context of calls placed by an organization's phones."""
    return f"org-{org_id}"


def incoming_context(org_id: str) -> str:
    """Where calls for an organization are routed (by the static fallback);
    only the dialplan transfers into it, no caller can dial into it."""
    return f"org-{org_id}-incoming"


def ivr_menu(org_id: str, menu: str) -> str:
    return f"org-{org_id}-{menu}"


def gateway_dial(trunk: str, e164: str) -> str:
    """The dial string of an outside number through a trunk's gateway (E.164, with its +)."""
    return f"sofia/gateway/{trunk}/{e164}"


PUBLIC_CONTEXT = "public"
MAIN_NUMBER_CONTEXT = "main-number"
VOICEMAIL_PROFILE = "default"
