"""`bizpbx calls SITE --from DATE --to DATE [--org ID] [--format csv|json]`:
one row per call from the ledger, for the CRM or an accountant.

DATE is a day, YYYY-MM-DD, in the site's time zone; both days are included
(`--from 2026-11-01 --to 2026-11-30` is November). Calls are listed by the
time they started, oldest first. Columns: `uuid`, `time` (ISO 8601 in the
site's time zone), `direction`, `organization` (who pays: the caller's, or the
8-800 number's owner), `from`, `to`, `number_kind`, `answered`, `duration`
(seconds talked), `billed_seconds`, `cost` (exact decimal), `currency`,
`rating` (billed, free, rejected, unrated), `cause` (the hang-up cause).
CSV has a header line; a `from` or `to` the caller chose that a spreadsheet
would take for a formula (starting with =, +, -, @ and not a plain number)
is written after a `'`. JSON is one array, values as stored.

Exit status: 0 listed (possibly nothing); 2 a bad date, an unknown
organization, an invalid site or no readable ledger.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.ledger import Ledger, LedgerVersionError, ListedCall
from bizpbx.settings import Site
from bizpbx.ledger.database import DATABASE_ERRORS, describe

COLUMNS = (
    "uuid", "time", "direction", "organization", "from", "to", "number_kind", "answered",
    "duration", "billed_seconds", "cost", "currency", "rating", "cause",
)

_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calls", help="every call of a period from the ledger, as CSV or JSON", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_site_argument(parser)
    parser.add_argument("--from", dest="first", required=True, type=_day, metavar="DATE", help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="last", required=True, type=_day, metavar="DATE", help="last day (included), YYYY-MM-DD")
    parser.add_argument("--org", metavar="ID", help="one organization (default: every one)")
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.set_defaults(handler=run)


def _day(text: str) -> date:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-11-30 (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: {error}") from None


def run(args: argparse.Namespace) -> int:
    if args.last < args.first:
        print(f"bizpbx calls: --to {args.last} is before --from {args.first}", file=sys.stderr)
        return EXIT_INVALID
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    if args.org is not None and args.org not in site.organizations:
        print(f"bizpbx calls: --org {args.org}: no such organization (the site has {', '.join(site.organizations)})", file=sys.stderr)
        return EXIT_INVALID
    since = int(datetime.combine(args.first, time(), site.zone).timestamp())
    until = int(datetime.combine(args.last + timedelta(days=1), time(), site.zone).timestamp())
    try:
        with Ledger.read_only(site.controller.ledger_database) as ledger:
            rows = [_row(site, call) for call in ledger.listed(since, until, args.org)]
    except FileNotFoundError:
        print(f"{site.controller.ledger}: no ledger there (controller.ledger); the controller and `bizpbx rate` create it", file=sys.stderr)
        return EXIT_INVALID
    except (*DATABASE_ERRORS, OSError, LedgerVersionError) as error:
        print(f"{describe(site.controller.ledger_database)}: cannot read the ledger: {error}", file=sys.stderr)
        return EXIT_INVALID
    (_print_csv if args.format == "csv" else _print_json)(rows)
    return 0


def _row(site: Site, call: ListedCall) -> dict[str, object]:
    return {
        "uuid": call.uuid,
        "time": datetime.fromtimestamp(call.start_epoch, site.zone).isoformat(),
        "direction": call.direction,
        "organization": call.organization,
        "from": call.caller,
        "to": call.callee,
        "number_kind": call.number_kind,
        "answered": call.answer_epoch > 0,
        "duration": call.billsec,
        "billed_seconds": call.billed_seconds,
        "cost": str(call.cost),
        "currency": site.tariffs.currency,
        "rating": call.outcome,
        "cause": call.hangup_cause,
    }


def _print_csv(rows: Iterable[dict[str, object]]) -> None:
    writer = csv.DictWriter(sys.stdout, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "answered": "yes" if row["answered"] else "no", "from": _cell(row["from"]), "to": _cell(row["to"])})


def _cell(text: str) -> str:
    """A caller-chosen value a spreadsheet would run as a formula, made inert."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _print_json(rows: list[dict[str, object]]) -> None:
    print(json.dumps(rows, ensure_ascii=False, indent=2))
