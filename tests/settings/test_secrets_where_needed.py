"""Only the commands that use the site's secrets ask for them, and they say how
to give them (issue 10: `rate --explain`, `route --explain`, `invoice` and
`show` refused to run without the ESL and trunk passwords, with `esl:
required` and no hint of BIZPBX_ESL__PASSWORD)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bizpbx.ledger import Ledger

LAB = Path(__file__).resolve().parents[2] / "inventory" / "lab"


@pytest.fixture
def bare_site(tmp_path: Path) -> Path:
    """The demo site without any of its secrets, its ledger in tmp_path."""
    for name in ("site.yml", "rates.csv"):
        (tmp_path / name).write_bytes((LAB / name).read_bytes())
    Ledger(tmp_path / "ledger.sqlite3").close()
    return tmp_path / "site.yml"


def run(site: Path, command: str, *rest: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIZPBX_")}
    env["BIZPBX_CONTROLLER__LEDGER"] = str(site.with_name("ledger.sqlite3"))
    return subprocess.run([sys.executable, "-m", "bizpbx.cli", command, str(site), *rest], capture_output=True, text=True, check=False, env=env)


@pytest.mark.parametrize(
    "args",
    [
        ("show",),
        ("route", "--explain", "--to", "74951234567", "--from", "79161234567", "--at", "2026-11-25T10:00"),
        ("rate", "--explain", "--from", "101", "--to", "+79161234567", "--seconds", "61"),
        ("invoice", "--month", "2026-11"),
    ],
    ids=lambda args: args[0],
)
def test_commands_that_use_no_secret_run_without_them(bare_site, args):
    result = run(bare_site, *args)
    assert result.returncode == 0, result.stderr
    assert "required" not in result.stderr


def test_show_says_a_missing_secret_is_missing(bare_site):
    result = run(bare_site, "show", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["esl"]["password"] is None and shown["trunks"]["carrier"]["password"] is None


@pytest.mark.parametrize("command", [("validate",), ("render", "--check", "--out", "conf")], ids=lambda c: c[0])
def test_commands_that_use_the_secrets_say_how_to_give_them(bare_site, command):
    name, *rest = command
    result = run(bare_site, name, *rest)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    problems = result.stderr.splitlines()[1:]
    assert any(
        line.startswith("esl.password: required") and "site.secrets.yml" in line and "BIZPBX_ESL__PASSWORD" in line for line in problems
    ), problems
    assert any(
        line.startswith("trunks.carrier.password: required") and "site.secrets.yml" in line and "BIZPBX_TRUNKS__CARRIER__PASSWORD" in line
        for line in problems
    ), problems


def test_a_webhook_key_is_asked_for_by_name(bare_site):
    site_text = bare_site.read_text(encoding="utf-8").replace(
        "controller:\n", "controller:\n  webhooks:\n    crm: {url: 'https://crm.example/hook'}\n", 1
    )
    bare_site.write_text(site_text, encoding="utf-8")
    assert run(bare_site, "show").returncode == 0
    result = run(bare_site, "validate")
    assert result.returncode == 2
    assert any(
        line.startswith("controller.webhooks.crm.secret: required") and "BIZPBX_CONTROLLER__WEBHOOKS__CRM__SECRET" in line
        for line in result.stderr.splitlines()
    ), result.stderr


def test_a_given_secret_is_still_checked_by_every_command(bare_site):
    bare_site.with_name("site.secrets.yml").write_text("esl: {password: ClueCon}\n", encoding="utf-8")
    result = run(bare_site, "show")
    assert result.returncode == 2
    assert "esl.password: a well-known default password is refused; set a secret of your own" in result.stderr
