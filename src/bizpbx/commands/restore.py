"""`bizpbx restore SITE FILE`: put a copy made by `bizpbx backup` back as the ledger.

Stop the controller first (`systemctl stop bizpbx-controller`): the command
refuses while something listens on the controller's metrics address
(`controller.metrics`: the controller always serves it). The copy is checked (`PRAGMA integrity_check`, a
ledger schema this bizpbx knows) before anything is written; then the
ledger's content is replaced with it in one step (SQLite's backup API, under
the ledger's own lock). Calls and events after the copy are not lost for
good: when the controller starts, its CDR sweep reads again the CDR lines
after the offsets the copy holds (each call is still rated once), and the
webhooks receive again the events after their cursors in the copy
(consumers deduplicate by event `id`).

Exit status: 0 restored; 1 the controller is running, or the copy is not a
sound ledger (nothing written); 2 an invalid site.
"""

from __future__ import annotations

import argparse
import socket
import sqlite3
import sys
from pathlib import Path

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.ledger.backup import BackupError, restore

EXIT_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore", help="put a ledger copy from bizpbx backup back (controller stopped)", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_site_argument(parser)
    parser.add_argument("copy", type=Path, metavar="FILE", help="a copy written by bizpbx backup")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    if site.controller.postgresql is not None:
        print("bizpbx restore: the ledger is in PostgreSQL (controller.postgresql): restore it with the database's own tools (pg_restore)", file=sys.stderr)
        return EXIT_INVALID
    listen = site.controller.metrics
    if _listening(str(listen.host), listen.port):
        print(f"bizpbx restore: the controller is running (something listens on {listen.host}:{listen.port}): stop it first", file=sys.stderr)
        return EXIT_FAILED
    try:
        calls = restore(args.copy, site.controller.ledger)
    except BackupError as error:
        print(f"bizpbx restore: {error}; the ledger is unchanged", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, sqlite3.Error) as error:
        print(f"bizpbx restore: {site.controller.ledger}: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{site.controller.ledger}: restored from {args.copy} ({calls} call(s))")
    return 0


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
