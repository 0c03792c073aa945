"""The demo site set up for controller tests: its ledger, CDR directory and
sockets in the test's own places; every call event checked against the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from event_schema import problems, stored_events
from local_net import free_port

from bizpbx.controller import call_events
from bizpbx.controller.outbox import Outbox
from bizpbx.site_loader import load_site


@pytest.fixture
def site(lab_site_copy: Path, tmp_path: Path):
    """build(change=None, **controller) -> the demo site with the test's ledger, ports and log directory."""

    def build(change=None, esl_port: int = 8021, webhooks: dict | None = None):
        data = yaml.safe_load(lab_site_copy.read_text(encoding="utf-8"))
        data["controller"] = {
            "ledger": str(tmp_path / "ledger.sqlite3"),
            "metrics": {"port": free_port()},
            "webhooks": webhooks or {},
        }
        data["esl"] = {"port": esl_port}
        data["freeswitch"]["sip_domain"] = "pbx.lab"
        data["freeswitch"]["log_dir"] = str(tmp_path / "log")
        if change:
            change(data)
        lab_site_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return load_site(lab_site_copy)

    return build


@pytest.fixture(autouse=True)
def every_call_event_matches_the_schema(monkeypatch, tmp_path: Path):
    """Every call event of every controller test, made in this process or stored by a
    controller in another (the live tests), must match docs/call-events.schema.json.
    Events a test writes into an outbox itself (webhook delivery tests) are its own data."""
    made: list[dict] = []
    added_here: set[str] = set()
    make = call_events._make
    add = Outbox.add

    def making(*args, **kwargs):
        event = make(*args, **kwargs)
        made.append(event.body)
        return event

    def adding(self, events):
        events = list(events)
        added_here.update(key for key, *_ in events)
        return add(self, events)

    monkeypatch.setattr(call_events, "_make", making)
    monkeypatch.setattr(Outbox, "add", adding)
    yield made
    elsewhere = [body for key, body in stored_events(tmp_path).items() if key not in added_here]
    wrong = [problem for body in made + elsewhere for problem in problems(body)]
    if wrong:
        pytest.fail(f"{len(wrong)} call event problem(s) against docs/call-events.schema.json:\n" + "\n".join(wrong[:20]), pytrace=False)
