"""`bizpbx backup SITE [--to DIR] [--keep N]`: a verified copy of the ledger,
taken while the controller runs, then the outbox's delivered events pruned.

The copy is `DIR/ledger-<UTC time>.sqlite3` (default DIR: the site's
`controller.backups.dir`): one consistent state of the ledger (SQLite's
online backup), written under a temporary name, checked with `PRAGMA
integrity_check` and renamed only then. The newest N copies are kept
(default `controller.backups.keep`); older ones are removed. Then call
events that every webhook has acknowledged and that are older than
`controller.delivered_events_days` leave the outbox (each is in the copy just
taken); dead letters are never pruned: their number is printed.

Exit status: 0 done; 1 the copy failed or did not verify (nothing is left
under a backup's name, the outbox is not pruned); 2 an invalid site.
Restore a copy with `bizpbx restore SITE FILE`.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.controller.retention import prune_delivered
from bizpbx.ledger.backup import BackupError, take
from bizpbx.ledger.database import connect

EXIT_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backup", help="a verified copy of the ledger; prunes delivered call events", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_site_argument(parser)
    parser.add_argument("--to", type=Path, metavar="DIR", help="the backup directory (default: controller.backups.dir)")
    parser.add_argument("--keep", type=_at_least_one, metavar="N", help="copies kept, this one included (default: controller.backups.keep)")
    parser.set_defaults(handler=run)


def _at_least_one(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of copies, 1 or more")
    return int(text)


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    if site.controller.postgresql is not None:
        print("bizpbx backup: the ledger is in PostgreSQL (controller.postgresql): back it up with the database's own tools (pg_dump)", file=sys.stderr)
        return EXIT_INVALID
    ledger = site.controller.ledger
    directory = args.to or site.controller.backups.dir
    try:
        taken = take(ledger, directory, args.keep or site.controller.backups.keep)
    except BackupError as error:
        print(f"bizpbx backup: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, sqlite3.Error) as error:
        where = getattr(error, "filename", None) or directory
        print(f"bizpbx backup: {where}: {getattr(error, 'strerror', None) or error}; no backup taken", file=sys.stderr)
        return EXIT_FAILED
    print(f"{taken.path}: {taken.calls} call(s), integrity ok")
    for old in taken.removed:
        print(f"{old}: removed (beyond the {args.keep or site.controller.backups.keep} kept)")
    days = site.controller.delivered_events_days
    try:
        db = connect(ledger)
        try:
            pruned = prune_delivered(db, site.controller.webhooks, int(time.time()), days)
        finally:
            db.close()
    except sqlite3.Error as error:
        print(f"bizpbx backup: {ledger}: the outbox was not pruned: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"outbox: {pruned.events} delivered event(s) older than {days} day(s) pruned")
    if pruned.dead_letters:
        print(f"outbox: {pruned.dead_letters} dead letter(s) kept: bizpbx events dead {args.site}")
    return 0
