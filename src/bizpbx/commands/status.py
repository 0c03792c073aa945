"""`bizpbx status SITE [--json]`: is the controller running, how busy is it,
what is waiting for the webhooks, when was the last CDR read.

Asks the metrics endpoint (from this host) and reads the ledger. Exits 0 when
the controller answers, 3 when it does not (as `systemctl status` does).
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from collections import defaultdict
from datetime import datetime, timezone

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.controller.outbox import Outbox
from bizpbx.controller.webhooks import describe_health, health_report
from bizpbx.ledger import Ledger
from bizpbx.ledger.database import ledger_exists

EXIT_NOT_RUNNING = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="the controller's state", description=__doc__)
    add_site_argument(parser)
    parser.add_argument("--json", action="store_true", help="as one JSON object")
    parser.set_defaults(handler=run)


def scrape(url: str) -> list[Metric] | None:
    """The metric families the controller serves at `url`, None when it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - the site's own metrics listener
            text = response.read().decode()
    except OSError:
        return None
    return list(text_string_to_metric_families(text))


def totals(families: list[Metric]) -> dict[str, float]:
    """Each sample name's value summed over its labels (histogram buckets left out); a
    labelled counter has no sample before its first count, so read with .get(name, 0)."""
    summed: dict[str, float] = defaultdict(float)
    for family in families:
        for sample in family.samples:
            if "le" not in sample.labels:
                summed[sample.name] += sample.value
    return dict(summed)


def read_metrics(url: str) -> dict[str, float] | None:
    families = scrape(url)
    return None if families is None else totals(families)


def first_sample(families: list[Metric], name: str) -> Sample | None:
    return next((sample for family in families for sample in family.samples if sample.name == name), None)


def trunk_states(families: list[Metric]) -> dict[str, dict[str, str | None]]:
    """Each trunk's state as the controller reports it (bizpbx_trunk_state)."""
    return {
        sample.labels["trunk"]: {"state": sample.labels["state"], "registration": sample.labels["registration"] or None, "reason": sample.labels["reason"] or None}
        for family in families
        for sample in family.samples
        if sample.name == "bizpbx_trunk_state"
    }


def describe_trunk(trunk: dict[str, str | None]) -> str:
    words = trunk["state"] + (f" ({trunk['registration']})" if trunk["registration"] else "")
    return words + (f": {trunk['reason']}" if trunk["reason"] else "")


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    listen = site.controller.metrics
    families = scrape(f"http://{listen.local_address}:{listen.port}/metrics")
    metrics = None if families is None else totals(families)
    fs = site.freeswitch
    status: dict = {
        "running": metrics is not None,
        "metrics": f"{listen.host}:{listen.port}",
        "ledger": str(site.controller.ledger),
        # The switch's limits as the site sizes them: FreeSWITCH counts both legs of a call.
        "sizing": {"max_calls": fs.max_calls, "calls_per_second": fs.calls_per_second, "max_sessions": fs.max_sessions, "sessions_per_second": fs.sessions_per_second},
    }
    if metrics is not None:
        status.update(
            active_calls=int(metrics.get("bizpbx_active_calls", 0)),
            calls_total=int(metrics.get("bizpbx_calls_total", 0)),
            outbox_depth=int(metrics.get("bizpbx_outbox_depth", 0)),
            esl_connected=metrics.get("bizpbx_esl_connected") == 1,
            esl_reconnects=int(metrics.get("bizpbx_esl_reconnects_total", 0)),
            esl_refusals=int(metrics.get("bizpbx_esl_refusals_total", 0)),
            rating_errors=int(metrics.get("bizpbx_rating_errors_total", 0)),
        )
        restart = first_sample(families, "bizpbx_restart_needed")
        status["needs_restart"] = [name for name in restart.labels["settings"].split(",") if name] if restart and restart.value == 1 else []
        status["site_reloads"] = int(metrics.get("bizpbx_site_reloads_total", 0))
        status["site_reload_failures"] = int(metrics.get("bizpbx_site_reload_failures_total", 0))
        status["trunks"] = trunk_states(families)
        cdr = first_sample(families, "bizpbx_cdr_readable")
        status["cdr_files"] = "not read yet" if cdr is None else "readable" if cdr.value == 1 else cdr.labels["problem"]
    if ledger_exists(site.controller.ledger_database):
        outbox = Outbox(site.controller.ledger_database)
        with Ledger(site.controller.ledger_database) as ledger:
            status["calls_in_ledger"] = ledger.count()
        status.setdefault("outbox_depth", outbox.depth(site.controller.webhooks))
        status["webhooks"] = health_report(outbox, site.controller.webhooks)
        status["dead_letters"] = sum(hook["dead_letters"] for hook in status["webhooks"].values())
        last = outbox.last_cdr()
        status["last_cdr"] = None if last is None else {"file": last[0], "read_at": datetime.fromtimestamp(last[1], timezone.utc).isoformat()}
        outbox.close()
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
    else:
        print(f"controller: {'running' if status['running'] else 'not running'} (metrics {status['metrics']})")
        sizing = status["sizing"]
        print(
            f"sizing: {sizing['max_calls']} calls at once, {sizing['calls_per_second']} new calls/s "
            f"(the switch's max-sessions {sizing['max_sessions']}, sessions-per-second {sizing['sessions_per_second']}: two legs a call)"
        )
        for key in ("active_calls", "calls_total", "outbox_depth", "calls_in_ledger", "esl_connected", "esl_reconnects", "esl_refusals", "rating_errors", "cdr_files"):
            if key in status:
                print(f"{key.replace('_', ' ')}: {status[key]}")
        for name, trunk in status.get("trunks", {}).items():
            print(f"trunk {name}: {describe_trunk(trunk)}")
        if "site_reloads" in status:
            print(f"site reloads: {status['site_reloads']}, refused: {status['site_reload_failures']}")
        if status.get("needs_restart"):
            print(f"needs restart: {', '.join(status['needs_restart'])} changed since the controller started (systemctl restart bizpbx-controller)")
        if "last_cdr" in status:
            last_cdr = status["last_cdr"]
            print("last CDR: " + (f"{last_cdr['file']} read at {last_cdr['read_at']}" if last_cdr else "none read yet"))
        if "webhooks" in status:
            print(f"dead letters: {status['dead_letters']}" + (f" (bizpbx events dead {args.site})" if status["dead_letters"] else ""))
            for name, hook in status["webhooks"].items():
                print(f"webhook {name}: {describe_health(hook)}")
    return 0 if status["running"] else EXIT_NOT_RUNNING
