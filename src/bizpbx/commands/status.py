"""`bizpbx status SITE [--json]`: is the controller running, how busy is it,
what is waiting for the webhooks, when was the last CDR read.

Asks the metrics endpoint (on loopback) and reads the ledger. Exits 0 when
the controller answers, 3 when it does not (as `systemctl status` does).
"""

from __future__ import annotations

import argparse
import json
import re
import urllib.request
from datetime import datetime, timezone

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.controller.outbox import Outbox
from bizpbx.controller.webhooks import describe_health, health_report
from bizpbx.ledger import Ledger

EXIT_NOT_RUNNING = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="the controller's state", description=__doc__)
    add_site_argument(parser)
    parser.add_argument("--json", action="store_true", help="as one JSON object")
    parser.set_defaults(handler=run)


def read_metrics(url: str) -> dict[str, float] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a loopback URL from the site
            text = response.read().decode()
    except OSError:
        return None
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def labelled(metrics: dict[str, float], name: str) -> tuple[float, dict[str, str]] | None:
    """The sample of a metric whose labels vary (its value, its labels), None if absent."""
    for key, value in metrics.items():
        if key == name or key.startswith(name + "{"):
            labels = {k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\") for k, v in LABEL.findall(key)}
            return value, labels
    return None


def every_labelled(metrics: dict[str, float], name: str) -> list[tuple[float, dict[str, str]]]:
    """Every sample of a metric with labels: (value, labels)."""
    return [labelled({key: value}, name) for key, value in metrics.items() if key.startswith(name + "{")]


def trunk_states(metrics: dict[str, float]) -> dict[str, dict[str, str | None]]:
    """Each trunk's state as the controller reports it (bizpbx_trunk_state)."""
    return {
        labels["trunk"]: {"state": labels.get("state", "unknown"), "registration": labels.get("registration") or None, "reason": labels.get("reason") or None}
        for _, labels in every_labelled(metrics, "bizpbx_trunk_state")
    }


def describe_trunk(trunk: dict[str, str | None]) -> str:
    words = trunk["state"] + (f" ({trunk['registration']})" if trunk["registration"] else "")
    return words + (f": {trunk['reason']}" if trunk["reason"] else "")


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    listen = site.controller.metrics
    metrics = read_metrics(f"http://{listen.host}:{listen.port}/metrics")
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
            active_calls=int(metrics["bizpbx_active_calls"]),
            calls_total=int(metrics["bizpbx_calls_total"]),
            outbox_depth=int(metrics["bizpbx_outbox_depth"]),
            esl_connected=metrics["bizpbx_esl_connected"] == 1,
            esl_reconnects=int(metrics["bizpbx_esl_reconnects_total"]),
            esl_refusals=int(metrics["bizpbx_esl_refusals_total"]),
            rating_errors=int(metrics["bizpbx_rating_errors_total"]),
        )
        restart = labelled(metrics, "bizpbx_restart_needed")
        status["needs_restart"] = [name for name in restart[1].get("settings", "").split(",") if name] if restart and restart[0] == 1 else []
        status["site_reloads"] = int(metrics.get("bizpbx_site_reloads_total", 0))
        status["site_reload_failures"] = int(metrics.get("bizpbx_site_reload_failures_total", 0))
        status["trunks"] = trunk_states(metrics)
        cdr = labelled(metrics, "bizpbx_cdr_readable")
        if cdr is not None:
            status["cdr_files"] = "readable" if cdr[0] == 1 else cdr[1].get("problem", "not read yet")
    if site.controller.ledger.exists():
        outbox = Outbox(site.controller.ledger)
        with Ledger(site.controller.ledger) as ledger:
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
