"""`bizpbx route --explain` shows what the site decides: the toll-fraud guard's
refusal of a destination the organization may not call, and every attempt the
caller has at a prompt (issue 10: an international call of an organization
with `international: false` was explained as a bridge through the trunk;
`--digits 99,34` ignored 34 although three attempts are allowed)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from bizpbx.controller.guard import check_outbound
from bizpbx.routing import Call, Source
from bizpbx.routing.explain import follow

WEDNESDAY = "2026-11-25T10:00"
MOSCOW = ZoneInfo("Europe/Moscow")


def route(site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bizpbx.cli", "route", "--explain", str(site), "--at", WEDNESDAY, *args], capture_output=True, text=True, check=False
    )


def test_a_call_abroad_the_organization_may_not_make_is_shown_refused(lab_site_copy):
    result = route(lab_site_copy, "--from", "100", "--to", "+441234567890")
    assert result.returncode == 0, result.stderr
    assert "refused by the toll-fraud guard (international)" in result.stdout
    assert "organization 12 may not call +441234567890: international calls are off and country code 44 is not allowed" in result.stdout
    assert "hangup CALL_REJECTED" in result.stdout
    assert "(toll-fraud guard first)" not in result.stdout


def test_the_refusal_in_json_is_the_guards_own(lab_site_copy, lab_site):
    result = route(lab_site_copy, "--from", "100", "--to", "+441234567890", "--json")
    assert result.returncode == 0, result.stderr
    bridge = json.loads(result.stdout)["plans"][0]["steps"][0]
    expected = check_outbound(lab_site.organizations["12"].outbound, "12", "+441234567890", calls_in_progress=0, spent_today=Decimal(0), price=None)
    assert bridge["guard"] == {"refused": True, "rule": expected.rule, "reason": expected.reason, "sound": expected.sound, "cause": "CALL_REJECTED"}


def test_a_forward_abroad_is_shown_refused_too(site_with):
    def forward_abroad(data):
        data["organizations"]["12"]["employees"]["101"]["forwarding"]["no_answer"]["to"] = "number:+493012345678"

    site = site_with(forward_abroad)
    stages = follow(Call(Source.PHONE, "100", "101", org_id="12"), site, datetime(2026, 11, 25, 10, tzinfo=MOSCOW), [])
    refused = {index: refusal.rule for index, refusal in stages[0].refusals.items()}
    assert list(refused.values()) == ["international"]
    assert str(stages[0].plan.steps[next(iter(refused))].target) == "number:+493012345678"


def test_an_organization_allowed_abroad_is_not_refused(lab_site_copy):
    result = route(lab_site_copy, "--from", "200", "--to", "+441234567890")
    assert result.returncode == 0, result.stderr
    assert "refused" not in result.stdout
    assert "(toll-fraud guard first)" in result.stdout


def test_every_attempt_at_the_organization_id_is_explained(lab_site_copy):
    result = route(lab_site_copy, "--from", "79161234567", "--to", "74952121562", "--digits", "99,34", "--json")
    assert result.returncode == 0, result.stderr
    plans = json.loads(result.stdout)["plans"]
    assert [p["after"] for p in plans] == [
        None,
        "keys 99 at the organization ID prompt",
        "keys 34 at the organization ID prompt, attempt 2 of 3",
    ]
    retry = plans[1]["steps"]
    assert [s["action"] for s in retry] == ["play", "collect"]
    assert retry[0]["target"] == "ivr/ivr-that_was_an_invalid_entry.wav"
    assert retry[1]["max_attempts"] == 2
    assert plans[2]["organization"] == "34"
    assert plans[2]["steps"][0]["target"] == "extension:200"  # its owner: no incoming rule for main


def test_attempts_run_out(lab_site_copy):
    result = route(lab_site_copy, "--from", "79161234567", "--to", "74952121562", "--digits", "1,2,3,34")
    assert result.returncode == 0, result.stderr
    assert "after keys 3 at the organization ID prompt, attempt 3 of 3:" in result.stdout
    assert "hangup NO_ROUTE_DESTINATION" in result.stdout
    assert "keys 34" not in result.stdout


def test_every_attempt_in_a_menu_is_explained(lab_site_copy):
    result = route(lab_site_copy, "--from", "79161234567", "--to", "74951234567", "--digits", "5,,2")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "after keys 5 in menu main:" in text
    assert "after no keys (timeout) in menu main, attempt 2 of 3:" in text
    assert "after keys 2 in menu main, attempt 3 of 3:" in text
    assert "bridge extension:102" in text.split("attempt 3 of 3:")[1]
