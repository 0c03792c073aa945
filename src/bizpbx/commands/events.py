"""`bizpbx events SITE [--all]`: the controller's call events, live, one JSON object a line.

Reads the outbox in the ledger database, so it works beside a running
controller (or after it stopped, with --all).

`bizpbx events dead|retry|skip SITE ...` handle the webhooks' dead letters
(`bizpbx events dead --help`). A site file named like one of these words is
given as ./dead.
"""

from __future__ import annotations

import argparse
import sys
import time

from bizpbx.commands import _dead_letters
from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.controller.outbox import Outbox
from bizpbx.ledger.database import ledger_exists

POLL_SECONDS = 0.25
EXIT_NO_LEDGER = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "events",
        help="print call events live as JSON lines; dead letters: events dead|retry|skip",
        description=__doc__,
        usage="bizpbx events [--all] [--once] SITE\n       bizpbx events {dead,retry,skip} SITE ... (see bizpbx events dead --help)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _follow_options(parser)
    add_site_argument(parser)
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


def _follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="start with every stored event, not only new ones")
    parser.add_argument("--once", action="store_true", help="print what is there and stop, instead of following")


def run(args: argparse.Namespace) -> int:
    if str(args.site) in _dead_letters.ACTIONS:
        return _dead_letters.run(str(args.site), args.rest)
    if args.rest:  # options after SITE
        after = argparse.ArgumentParser(prog="bizpbx events SITE")
        _follow_options(after)
        more = after.parse_args(args.rest)
        args.all, args.once = args.all or more.all, args.once or more.once
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    path = site.controller.ledger_database
    if not ledger_exists(path):
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
