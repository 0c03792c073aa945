"""`bizpbx events SITE [--all]`: the controller's call events, live, one JSON object a line.

Reads the outbox in the ledger database, so it works beside a running
controller (or after it stopped, with --all).
"""

from __future__ import annotations

import argparse
import sys
import time

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.controller.outbox import Outbox

POLL_SECONDS = 0.25
EXIT_NO_LEDGER = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("events", help="print call events live as JSON lines", description=__doc__)
    add_site_argument(parser)
    parser.add_argument("--all", action="store_true", help="start with every stored event, not only new ones")
    parser.add_argument("--once", action="store_true", help="print what is there and stop, instead of following")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    path = site.controller.ledger
    if not path.exists():
        print(f"bizpbx events: no ledger at {path} (controller.ledger): has the controller run yet?", file=sys.stderr)
        return EXIT_NO_LEDGER
    outbox = Outbox(path)
    last = 0 if args.all else outbox.last_id()
    while True:
        for event in outbox.after(last):
            print(event.body, flush=True)
            last = event.id
        if args.once:
            return 0
        time.sleep(POLL_SECONDS)
