"""The toll-fraud guard's rule that the site alone decides: may this
organization call this number at all?

The controller's guard (`bizpbx.controller.guard.check_outbound`) applies it
before any outbound leg, then the limits it counts at call time (calls in
progress, today's spend); `bizpbx route --explain` shows its refusal ahead of
the call. Pure, and free of the controller, so that routing can import it.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from bizpbx.numbers.e164 import e164_digits, is_russian
from bizpbx.settings import OutboundPolicy

# What a refused caller hears (FreeSWITCH's standard sounds), and the cause the call ends with.
SOUND_REFUSED = "ivr/ivr-call_cannot_be_completed_as_dialed.wav"
SOUND_LIMIT = "ivr/ivr-all_circuits_busy.wav"
REFUSAL_CAUSE = "CALL_REJECTED"


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str  # international, concurrent-calls, spend-cap, unpriced, not-a-number
    reason: str
    sound: str


def destination_refusal(policy: OutboundPolicy, org_id: str, number: str) -> Refusal | None:
    """None when the organization's policy lets it call `number`; else why not."""
    digits = e164_digits(number)
    if digits is None:
        return Refusal("not-a-number", f"{number} is not a phone number", SOUND_REFUSED)
    if not is_russian(digits) and not policy.international:
        country = phonenumbers.parse("+" + digits).country_code
        if country not in policy.allowed_countries:
            return Refusal(
                "international",
                f"organization {org_id} may not call +{digits}: international calls are off and country code {country} is not allowed",
                SOUND_REFUSED,
            )
    return None
