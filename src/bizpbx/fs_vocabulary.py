"""FreeSWITCH's vocabulary as bizpbx speaks it, for the renderer (dialplan,
directory, CDR template) and the controller alike: names of objects, the
channel variables bizpbx sets, hang-up cause groups, dial strings and the
arguments of the applications both drive (voicemail, play_and_get_digits,
bridge). Nothing here decides where a call goes (`bizpbx.routing`).

A directory user's id is ``<organization ID>-<extension>`` (``12-101``): an
extension is unique only inside its organization, and the switch has one
domain, so the id carries both. Phones register with it as their SIP user
name; it is also the voicemail box id. A trunk's sofia gateway has the trunk's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

PUBLIC_CONTEXT = "public"
MAIN_NUMBER_CONTEXT = "main-number"
VOICEMAIL_PROFILE = "default"


class Var(StrEnum):
    """Channel variables bizpbx sets on a call (the dialplan, the controller) and reads back (CDR, events)."""

    ORG_ID = "bizpbx_org_id"  # the organization the call belongs to, once known
    DIRECTION = "bizpbx_direction"  # one of DIRECTIONS
    CALLED = "bizpbx_called"  # the number of the site that was called (E.164)
    NUMBER_KIND = "bizpbx_number_kind"  # main, individual, hotline
    TRUNK = "bizpbx_trunk"
    USER_ID = "bizpbx_user_id"  # set on a phone's directory user: its box for *97
    RUNG = "bizpbx_rung"  # looping nodes reached since the caller's last menu choice: "ext-101,ext-102,"
    MENU_RUNG = "bizpbx_menu_rung"  # that count at a menu, for its fallback
    ANSWERED_BY = "bizpbx_answered_by"  # who answered (extension:101, number:+7...), for the CDR
    VOICEMAIL = "bizpbx_voicemail"  # the box the call ended in
    ENTERED_ID = "bizpbx_entered_id"  # what the caller keyed at the main number (controller)
    MENU_KEY = "bizpbx_menu_key"  # the key chosen in a menu (controller)
    RECORDING = "bizpbx_recording"  # the file the switch records the call into, for the CDR

    REFERENCE = "bizpbx_reference"  # the CRM's reference of a call placed through the click-to-call API
    # "true" on a leg the switch dialled that the ledger rates as a call of its own: a click-to-call's
    # employee leg, a client's leg carrying on a call transferred away from its first leg.
    LEDGER_LEG = "bizpbx_ledger_leg"
    # The epoch second from which a transferred client's leg is billed: its first leg billed it until then.
    BILLED_FROM = "bizpbx_billed_from"


DIRECTIONS = ("internal", "inbound", "outbound")

# Dispositions of a failed bridge (`originate_disposition`) by forwarding outcome.
BUSY_CAUSES = ("USER_BUSY", "CALL_REJECTED")
NO_ANSWER_CAUSES = ("NO_ANSWER", "ALLOTTED_TIMEOUT", "NO_USER_RESPONSE")
UNAVAILABLE_CAUSES = ("USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT", "UNALLOCATED_NUMBER")


def contact_query(user: str, domain: str) -> str:
    """The API command asking where `user`@`domain` is registered."""
    return f"sofia_contact {user}@{domain}"


def is_registered(contact_reply: str) -> bool:
    """Whether `contact_query`'s answer names a registration (not error/user_not_registered)."""
    return not contact_reply.strip().startswith("error/user_not_registered")


def user_id(org_id: str, extension: str) -> str:
    return f"{org_id}-{extension}"


def phones_context(org_id: str) -> str:
    """The context of calls placed by an organization's phones."""
    return f"org-{org_id}"


def incoming_context(org_id: str) -> str:
    """Where calls for an organization are routed (by the static fallback);
    only the dialplan transfers into it, no caller can dial into it."""
    return f"org-{org_id}-incoming"


# A call parked for the controller goes through its extension again in the context's fallback twin
# (`fallback_context`) when the controller has not taken it by then: the switch's scheduler runs
# the transfer (`park_steps`), the controller cancels it as it takes the call (`claim`). The
# scheduler counts whole seconds. Long enough for a controller that is up but behind: in the lab at
# 60 calls/s offered (over what its two cores carry) the controller took calls up to 4.5 s after
# they parked, and a 3 s transfer took four calls in five from it; a stopping controller sends the
# calls parked meanwhile to the fallback itself, at once.
FALLBACK_AFTER_SECONDS = 10
# The wait is a global of the switch that the controller sets as it connects (`controller_present`)
# and zeroes as it stops (`controller_absent`), so that without a controller a caller does not wait
# for one: the fallback runs at the scheduler's next turn (within half a second). Unset (the switch
# just started, no controller yet) it reads as 0 too: `sched_transfer` takes "+" alone as now.
FALLBACK_AFTER_VARIABLE = "bizpbx_fallback_after"
FALLBACK_SUFFIX = "-fallback"


def fallback_context(context: str) -> str:
    """The twin of a context whose calls are parked for the controller: the same extensions with
    what the switch does alone (the static fallback) in place of the park."""
    return f"{context}{FALLBACK_SUFFIX}"


def park_steps(context: str) -> tuple[tuple[str, str], ...]:
    """The applications that hand a call to the controller: the fallback's transfer scheduled
    (its task group is the call's UUID), then `park`, where the controller finds the call
    (CHANNEL_PARK) and runs applications on it over its event socket."""
    fallback = f"+${{{FALLBACK_AFTER_VARIABLE}}} ${{destination_number}} XML {fallback_context(context)}"
    return (("sched_transfer", fallback), ("park", ""))


def controller_present() -> str:
    """The API command that makes parked calls wait for the controller (FALLBACK_AFTER_SECONDS)."""
    return f"global_setvar {FALLBACK_AFTER_VARIABLE}={FALLBACK_AFTER_SECONDS}"


def controller_absent() -> str:
    """The API command that sends calls parked from now on to the fallback without waiting."""
    return f"global_setvar {FALLBACK_AFTER_VARIABLE}=0"


def park_contexts(org_ids: Iterable[str]) -> set[str]:
    """The contexts whose calls are parked for the controller: the trunk's and the phones'."""
    return {PUBLIC_CONTEXT, *(phones_context(org_id) for org_id in org_ids)}


def claim(call_uuid: str) -> str:
    """The API command that cancels a parked call's fallback transfer: the controller takes the
    call only if it was still pending (`claimed`)."""
    return f"sched_del {call_uuid}"


def claimed(reply: str) -> bool:
    """Whether `claim`'s reply ("+OK Deleted: N") cancelled the fallback transfer: with 0, the
    switch ran it already and the call is the fallback's."""
    prefix = "+OK Deleted: "
    return reply.startswith(prefix) and reply[len(prefix):].strip() not in ("", "0")


def hand_back(call_uuid: str, destination: str, context: str) -> str:
    """The API command that sends a parked call through its extension in the context's fallback
    twin: what the switch does without the controller."""
    return f"uuid_transfer {call_uuid} {destination} XML {fallback_context(context)}"


def ivr_menu(org_id: str, menu: str) -> str:
    return f"org-{org_id}-{menu}"


def _with_options(dial: str, options: Iterable[str]) -> str:
    options = list(options)
    return f"[{','.join(options)}]{dial}" if options else dial


def user_dial(org_id: str, extension: str, options: Iterable[str] = ()) -> str:
    """The dial string of an employee's phone (`extension` may be a regex capture such as $1)."""
    return _with_options(f"user/{user_id(org_id, extension)}@${{domain}}", options)


def gateway_dial(trunk: str, e164: str, options: Iterable[str] = ()) -> str:
    """The dial string of an outside number through a trunk's gateway (E.164, with its +)."""
    return _with_options(f"sofia/gateway/{trunk}/{e164}", options)


# What every routed call's bridges need, set by the dialplan before the park: a failed leg comes
# back to the router with its originate_disposition, and an answered bridge ends the call.
BRIDGE_SETTINGS = {"continue_on_fail": "true", "hangup_after_bridge": "true"}


def multiset(variables: dict[str, str]) -> str:
    """The argument of `multiset`: several channel variables set by one application (one round
    trip to the switch instead of one each). Its words are split on spaces."""
    for name, value in variables.items():
        if " " in name + value or "=" in name:
            raise ValueError(f"multiset cannot carry {name}={value!r}: no spaces, no '=' in a name")
    return " ".join(f"{name}={value}" for name, value in variables.items())


# What a box's default greeting spells ("… is not available"): the extension the caller knows, not
# the directory user the box belongs to (12-100, whose hyphen no voice pack says well).
VOICEMAIL_GREETING_ID = "voicemail_alternate_greet_id"


def voicemail_box(org_id: str, extension: str) -> str:
    """The `voicemail` application's argument to leave a message in an employee's box."""
    return f"{VOICEMAIL_PROFILE} ${{domain}} {user_id(org_id, extension)}"


def voicemail_check() -> str:
    """The `voicemail` application's argument for a phone checking its own box."""
    return f"check {VOICEMAIL_PROFILE} ${{domain}} ${{{Var.USER_ID}}}"


def entry_digits(entries) -> tuple[int, int]:
    """play_and_get_digits' min and max digits for keying one of `entries` (IDs) and the
    pound the prompt asks for. It returns as soon as max digits are in: a max of the longest
    entry left that pound to the next application (voicemail takes it as "skip the greeting",
    and hung up on a caller who did as told). One more keeps the entry open for the pound; the
    longest entry keyed without it is taken at the digit timeout."""
    lengths = [len(entry) for entry in entries] or [1]
    return min(lengths), max(lengths) + 1


def play_and_get_digits(
    *,
    min_digits: int,
    max_digits: int,
    tries: int,
    timeout_ms: int,
    terminators: str,
    prompt: str,
    invalid_prompt: str,
    variable: str,
    pattern: str,
    digit_timeout_ms: int | None = None,
    on_failure: str | None = None,
) -> str:
    """The `play_and_get_digits` application's argument (mod_dptools' order);
    `on_failure` is a transfer target ("ext XML context") after the last try."""
    words = [str(min_digits), str(max_digits), str(tries), str(timeout_ms), terminators, prompt, invalid_prompt, variable, pattern]
    if digit_timeout_ms is not None or on_failure is not None:
        words.append(str(digit_timeout_ms if digit_timeout_ms is not None else timeout_ms))
    if on_failure is not None:
        words.append(on_failure)
    return " ".join(words)


# `execute_on_answer*` variables run their application when the channel is
# answered; the suffix keeps ours apart from any other.
RECORD_ON_ANSWER = "execute_on_answer_bizpbx_record"


def recording_steps(directory: str, notice: str | None, *, answered: bool) -> tuple[tuple[str, str], ...]:
    """(application, data) that make the switch record the call into `directory`/<uuid>.wav
    from its answer (at once when `answered`) to its end, whatever happens to the controller;
    `notice` is played to the caller when a person answers, before the two are connected."""
    path = f"{directory.rstrip('/')}/${{uuid}}.wav"  # `set` expands ${uuid}
    # The file lasts as long as the call because the profiles pace media by a timer
    # (rtp-timer-name): record_session writes a frame per read, and reads then come on time.
    # (RECORD_PRE_BUFFER_FRAMES=1 is the site's global, vars.xml: the notice is recorded too.)
    steps = [("set", f"{Var.RECORDING}={path}")]
    if notice is not None:
        steps += [("set", "bridge_pre_execute_aleg_app=playback"), ("set", f"bridge_pre_execute_aleg_data={notice}")]
    steps.append(("record_session", f"${{{Var.RECORDING}}}") if answered else ("set", f"{RECORD_ON_ANSWER}=record_session ${{{Var.RECORDING}}}"))
    return tuple(steps)

# Call pickup: the call ringing an organization's phones, kept in mod_hash
# (realm, key = organization ID, value = the caller's UUID) by the dial string's
# legs themselves (`ringing_dial`), for `intercept` to take.
PICKUP_REALM = "bizpbx_pickup"
CALL_UUID = "${uuid}"  # the caller's UUID where the dialplan writes it


def pickup_offer(org_id: str, call_uuid: str = CALL_UUID) -> str:
    """The `hash` application's argument: the call may be picked up while it rings."""
    return f"insert/{PICKUP_REALM}/{org_id}/{call_uuid}"


def pickup_withdraw(org_id: str, call_uuid: str = CALL_UUID) -> str:
    """The `hash` argument withdrawing the offer (only if it is still this call's)."""
    return f"delete_ifmatch/{PICKUP_REALM}/{org_id}/{call_uuid}"


def ringing_call(org_id: str) -> str:
    """The `intercept` application's argument: the organization's call now ringing."""
    return f"${{hash(select/{PICKUP_REALM}/{org_id})}}"


def ringing_dial(dial: str, org_id: str, call_uuid: str = CALL_UUID) -> str:
    """A dial string of an organization's phones that offers the call for pickup while they ring
    (each leg as the switch creates it, before any can answer) and withdraws it on an answer.
    (The switch runs every `api_on_…` of a leg itself: no application or command of the caller's.)"""
    return f"{{api_on_originate=hash {pickup_offer(org_id, call_uuid)},api_on_answer=hash {pickup_withdraw(org_id, call_uuid)}}}{dial}"


def billed_from(call_uuid: str, epoch: int) -> str:
    """The API command marking channel `call_uuid` billable from `epoch` (Var.BILLED_FROM)."""
    return f"uuid_setvar {call_uuid} {Var.BILLED_FROM} {epoch}"


def answered_by_option(call_uuid: str, who: str) -> str:
    """A leg's option setting, when it answers, who answered (`who`) on the caller's channel
    `call_uuid`, for its hang-up event and CDR. The switch runs every variable named
    api_on_answer… of a leg on its answer (switch_channel_api_on matches the prefix), so
    ringing_dial's own runs too."""
    return f"api_on_answer_bizpbx=uuid_setvar {call_uuid} {Var.ANSWERED_BY} {who}"
