"""`bizpbx route --explain` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys


def bizpbx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bizpbx.cli", *args], capture_output=True, text=True, check=False)


def test_explain_json_follows_the_main_number_into_the_organization(lab_site_copy):
    result = bizpbx("route", "--explain", str(lab_site_copy), "--to", "74952121562", "--from", "78432123456", "--digits", "12", "--at", "2026-11-25T10:00", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    first, second = shown["plans"]
    assert [s["action"] for s in first["steps"]] == ["answer", "collect"]
    assert first["steps"][1]["valid"] == ["12", "34"]
    assert second["after"] == "keys 12 at the organization ID prompt" and second["organization"] == "12"
    assert second["steps"][0] | {"reason": ""} == {
        "action": "bridge",
        "target": "extension:100",
        "node": "ext-100",
        "legs": ["extension:100"],
        "ring_seconds": 30,
        "on": {"busy": 2, "no_answer": 3, "unavailable": 4},
        "reason": "",
    }
    # One voicemail step per outcome, so the call event says which one happened.
    assert second["steps"][1:4] == [
        {"action": "voicemail", "target": "voicemail:100", "node": "vm-100", "reason": f"100: {outcome}"}
        for outcome in ("busy", "no answer", "unavailable")
    ]


def test_explain_text_says_why(lab_site_copy):
    result = bizpbx("route", "--explain", str(lab_site_copy), "--to", "101", "--from", "100", "--at", "2026-11-25T10:00")
    assert result.returncode == 0, result.stderr
    assert "1. bridge extension:101 [extension:101; rings 15 s; busy → 2, no answer → 6, unavailable → 8]  — extension 101 of organization 12" in result.stdout
    assert "forward number:+79161234567 [number:+79161234567 via trunk carrier; rings until the caller gives up" in result.stdout
    assert "(toll-fraud guard first)" in result.stdout


def test_bad_input_is_named(lab_site_copy):
    bad_time = bizpbx("route", "--explain", str(lab_site_copy), "--to", "101", "--from", "100", "--at", "tomorrow")
    assert bad_time.returncode == 2
    assert "--at 'tomorrow' is not an ISO 8601 time" in bad_time.stderr
    unknown = bizpbx("route", "--explain", str(lab_site_copy), "--to", "101", "--from", "555")
    assert unknown.returncode == 2 and "--from 555: no organization has this extension" in unknown.stderr
    missing = bizpbx("route", "--explain", str(lab_site_copy.with_name("absent.yml")), "--to", "1", "--from", "2")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
