"""README's metrics table lists every metric the controller declares, with its labels."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from bizpbx.controller.metrics import Metrics
from bizpbx.controller.trunk_state import TrunkState
from bizpbx.rating import CallRecord, Direction, Rating, Rule

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def every_series() -> dict[str, set[str]]:
    """Each bizpbx_* metric as exposed (counters with _total) and its label names, every labelled one given a value."""
    metrics = Metrics(outbox_depth=lambda: 0, esl_connected=lambda: 1, esl_refusals=lambda: 0)
    loop = SimpleNamespace(name="crm", consecutive_failures=0, last_success_at=None, restarts=0, dead_letters=lambda: 0)
    metrics.watch_webhooks(lambda: [loop])
    metrics.call_started("inbound")
    record = CallRecord("uuid", "34", Direction.INBOUND, "+78005553535", None, "78432123456", "78005553535", 1, 5, "NORMAL_CLEARING", "carrier")
    metrics.call_stored(record, Rating(Rule.HOTLINE_ORIGIN, 350, 60, "34"))
    metrics.refused_calls.labels(organization="12", rule="international").inc()
    metrics.cdr_problem(None)
    metrics.webhook_seconds.labels(webhook="crm", outcome="delivered").observe(0.1)
    metrics.watch_trunks(lambda: {"carrier": TrunkState("failing", "FAILED", "registration failed", None)})
    metrics.trunk_call_failed("carrier", "USER_BUSY")
    metrics.restart_needed_for(["controller.socket"])
    series: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        if family.name.startswith("bizpbx_"):
            exposed = family.name + "_total" if family.type == "counter" else family.name
            series[exposed] = {label for sample in family.samples for label in sample.labels if label != "le"}
    return series


def test_every_metric_is_in_the_readme_table_with_its_labels():
    series = every_series()
    assert "bizpbx_calls_rated_total" in series and series["bizpbx_webhook_delivery_seconds"] == {"webhook", "outcome"}
    rows = {match[1]: match[0] for match in re.finditer(r"^\| `(bizpbx_\w+)` \|.*$", README, re.MULTILINE)}
    missing = sorted(set(series) - set(rows))
    assert not missing, f"not in README's metrics table: {missing}"
    unlisted = {name: sorted(label for label in labels if f"`{label}`" not in rows[name].split("|")[3]) for name, labels in series.items()}
    assert not any(unlisted.values()), f"labels missing from README's rows: {unlisted}"
    stale = sorted(set(rows) - set(series))
    assert not stale, f"README lists metrics the controller does not have: {stale}"

