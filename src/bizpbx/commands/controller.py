"""`bizpbx controller SITE`: run the call controller (systemd runs it as a service).

Logs go to stdout as JSON lines. A bad site exits 2 with every problem named;
SIGTERM stops it cleanly (calls in progress may end first); SIGHUP reloads
the site (an invalid one is refused and the running one kept).
"""

from __future__ import annotations

import argparse
import sys

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.controller.logs import log_to_stdout
from bizpbx.controller.service import StartupError, run_until_signalled

EXIT_CANNOT_START = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("controller", help="run the call controller", description=__doc__)
    add_site_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    log_to_stdout()
    try:
        run_until_signalled(site, args.site)
    except StartupError as error:
        print(f"bizpbx controller: cannot start: {error}", file=sys.stderr)
        return EXIT_CANNOT_START
    return 0
