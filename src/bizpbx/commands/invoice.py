"""`bizpbx invoice SITE --month 2026-11 [--org ID] [--format table|csv|json]`:
the monthly accounts of the site's organizations from the calls in the ledger
(see `bizpbx.rating.accounts` for what an account holds). Exit status 1 when
the ledger holds unrated calls of the month, which the accounts leave out."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.ledger import Ledger, LedgerVersionError
from bizpbx.rating.accounts import Account, Month, monthly_account
from bizpbx.ledger.database import DATABASE_ERRORS, describe

EXIT_UNRATED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("invoice", help="monthly accounts of the organizations", description=__doc__)
    add_site_argument(parser)
    parser.add_argument("--month", required=True, type=_month, metavar="YYYY-MM", help="calendar month in the site's time zone")
    parser.add_argument("--org", metavar="ID", help="one organization (default: every one)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.set_defaults(handler=run)


def _month(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    if args.org is not None and args.org not in site.organizations:
        print(f"bizpbx invoice: --org {args.org}: no such organization (the site has {', '.join(site.organizations)})", file=sys.stderr)
        return EXIT_INVALID
    org_ids = [args.org] if args.org is not None else sorted(site.organizations, key=lambda o: (len(o), o))
    since, until = args.month.bounds(site.zone)
    try:
        with Ledger.read_only(site.controller.ledger_database) as ledger:
            accounts = [monthly_account(site, org_id, args.month, ledger.calls(org_id, since, until)) for org_id in org_ids]
    except FileNotFoundError:
        print(f"{site.controller.ledger}: no ledger there (controller.ledger); the controller and `bizpbx rate` create it", file=sys.stderr)
        return EXIT_INVALID
    except (*DATABASE_ERRORS, OSError, LedgerVersionError) as error:
        print(f"{describe(site.controller.ledger_database)}: cannot read the ledger: {error}", file=sys.stderr)
        return EXIT_INVALID
    {"table": _print_table, "csv": _print_csv, "json": _print_json}[args.format](accounts)
    unrated = [a for a in accounts if a.unrated_calls]
    for account in unrated:
        print(f"organization {account.organization}: {account.unrated_calls} unrated call(s) in {account.month} are not in this account", file=sys.stderr)
    return EXIT_UNRATED if unrated else 0


def _print_table(accounts: list[Account]) -> None:
    for index, account in enumerate(accounts):
        if index:
            print()
        print(f"organization {account.organization}, {account.month}")
        for line in account.lines:
            print(f"  {line.description:<60} {line.amount:>12}")
        print(f"  {'total, RUB':<60} {account.total:>12}")
        if account.credit:
            print(f"  (call credit {account.credit}: used {account.credit_used}, expired {account.credit_expired})")


def _print_csv(accounts: list[Account]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(("organization", "month", "kind", "description", "amount"))
    for account in accounts:
        for line in account.lines:
            writer.writerow((account.organization, str(account.month), line.kind, line.description, str(line.amount)))
        writer.writerow((account.organization, str(account.month), "total", "total, RUB", str(account.total)))


def _print_json(accounts: list[Account]) -> None:
    print(
        json.dumps(
            [
                {
                    "organization": a.organization,
                    "month": str(a.month),
                    "currency": "RUB",
                    "lines": [{"kind": l.kind, "description": l.description, "amount": str(l.amount)} for l in a.lines],
                    "total": str(a.total),
                    "call_credit": {"granted": str(a.credit), "used": str(a.credit_used), "expired": str(a.credit_expired)},
                    "unrated_calls": a.unrated_calls,
                }
                for a in accounts
            ],
            ensure_ascii=False,
            indent=2,
        )
    )
