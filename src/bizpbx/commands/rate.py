"""`bizpbx rate SITE FILE...`: rate CDR files (`mod_cdr_csv` lines of bizpbx's
columns, or JSON lines with the same keys) into the site's ledger.

Each call is stored once under its UUID: feeding a file again stores nothing
new, and a line whose UUID is stored with other data (two files that
disagree) is reported with both `FILE:LINE`s, the stored call kept. A last
line without its newline is still being written: reported, rated on a later
run. A bad line is reported as `FILE:LINE: reason` and skipped; an unrated
call (no prefix of the deck matches, no deck) is reported and not stored, so
that after the deck is fixed the same file can be fed again to store it. A
priced call whose organization the site does not have is stored and reported
(no invoice can show it). The exit status is 1 when any of these happened.

`bizpbx rate --explain SITE --from N --to N --seconds S [--org ID] [--json]`:
the price of one call and why, without a ledger. The kind of call follows
from the numbers: to an 8-800 number of the site, an incoming hotline call
priced by the caller's origin; to another number of the site, an incoming
call (free); to an extension of the caller's organization, an internal call;
anything else, an outbound call through the organization's trunk (the
organization is --org, or the one whose extension --from is).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.ledger import Ledger, LedgerVersionError, RatedCall
from bizpbx.rating import CallRecord, Direction, Rater, Rating, RatingOutcome
from bizpbx.rating.cdr_input import CdrError, Incomplete, parse_cdr_file
from bizpbx.numbers.e164 import e164_digits
from bizpbx.settings import Site
from bizpbx.ledger.database import DATABASE_ERRORS, describe

EXIT_PROBLEMS = 1
BATCH_SIZE = 5000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rate", help="rate CDR files into the ledger, or explain a call's price", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--explain", action="store_true", help="price one call given by --from, --to and --seconds")
    add_site_argument(parser)
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="cdr_csv or JSON-lines files")
    parser.add_argument("--from", dest="caller", metavar="N", help="with --explain: the caller, an extension or a number")
    parser.add_argument("--to", metavar="N", help="with --explain: the number or extension called")
    parser.add_argument("--seconds", type=int, metavar="S", help="with --explain: answered seconds (0: unanswered)")
    parser.add_argument("--org", metavar="ID", help="with --explain: the caller's organization")
    parser.add_argument("--json", action="store_true", help="with --explain: one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    usage = _usage_problem(args)
    if usage:
        print(f"bizpbx rate: {usage}", file=sys.stderr)
        return EXIT_INVALID
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    try:
        rater = Rater(site)
    except ValueError as error:
        print(f"{args.site}: the tariffs cannot be used: {error}", file=sys.stderr)
        return EXIT_INVALID
    if args.explain:
        return _explain(args, site, rater)
    try:
        ledger = Ledger(site.controller.ledger_database)
    except (*DATABASE_ERRORS, OSError, LedgerVersionError) as error:
        print(f"{describe(site.controller.ledger_database)}: cannot open the ledger: {error}", file=sys.stderr)
        return EXIT_INVALID
    with ledger:
        tally = _Tally()
        for path in args.files:
            _rate_file(path, rater, ledger, tally, set(site.organizations))
    print(tally.summary())
    return EXIT_PROBLEMS if tally.problems else 0


def _usage_problem(args: argparse.Namespace) -> str | None:
    call_options = {"--from": args.caller, "--to": args.to, "--seconds": args.seconds}
    if args.explain:
        if args.files:
            return "--explain takes no FILE"
        missing = [option for option, value in call_options.items() if value is None]
        if missing:
            return f"--explain needs {', '.join(missing)}"
        if args.seconds < 0:
            return "--seconds must be 0 or more"
        return None
    if any(value is not None for value in call_options.values()) or args.org or args.json:
        return "--from, --to, --seconds, --org and --json go with --explain"
    if not args.files:
        return "give the CDR FILEs to rate (or --explain)"
    return None


@dataclass
class _Tally:
    new: int = 0
    already: int = 0
    rejected: int = 0
    unrated: int = 0
    unbilled: int = 0
    bad: int = 0
    incomplete: int = 0
    differing: int = 0

    def summary(self) -> str:
        return (
            f"{self.new} new, {self.already} already stored, {self.rejected} rejected (stored, never billed), "
            f"{self.unrated} unrated (not stored), {self.unbilled} priced for no organization of the site (stored), {self.bad} bad lines"
            + (f", {self.incomplete} incomplete (not rated yet)" if self.incomplete else "")
            + (f", {self.differing} differing from the call stored under the same UUID (not stored)" if self.differing else "")
        )

    @property
    def problems(self) -> bool:
        return bool(self.bad or self.unrated or self.unbilled or self.incomplete or self.differing)


def _rate_file(path: Path, rater: Rater, ledger: Ledger, tally: _Tally, organizations: set[str]) -> None:
    batch: list[RatedCall] = []

    def store() -> None:
        inserted = ledger.record(batch)
        # Seen before: the same call again is normal (a file fed twice), the
        # same UUID with other data is not, and is told; the first stored stays.
        differing = ledger.differing(batch) if inserted < len(batch) else []
        for rated, stored_from, what in differing:
            print(f"{rated.source}: call {rated.call.uuid} is already stored from {stored_from} with other data ({what}); that one is kept", file=sys.stderr)
        tally.new += inserted
        tally.differing += len(differing)
        tally.already += len(batch) - inserted - len(differing)
        batch.clear()

    try:
        for line, item in parse_cdr_file(path):
            if isinstance(item, Incomplete):
                print(f"{path}:{line}: {item}", file=sys.stderr)
                tally.incomplete += 1
                continue
            if isinstance(item, CdrError):
                print(f"{path}:{line}: {item}", file=sys.stderr)
                tally.bad += 1
                continue
            rating = rater.rate(item)
            if rating.outcome is RatingOutcome.UNRATED:
                print(f"{path}:{line}: unrated, not stored: {rating.reason}", file=sys.stderr)
                tally.unrated += 1
                continue
            tally.rejected += rating.rejected
            if rating.kopecks and rating.payer not in organizations:
                # Stored all the same (the call happened), but no invoice will show it.
                print(f"{path}:{line}: costs {rating.cost} RUB but organization {rating.payer!r} is not in the site", file=sys.stderr)
                tally.unbilled += 1
            batch.append(RatedCall(item, rating, f"{path}:{line}"))
            if len(batch) >= BATCH_SIZE:
                store()
    except OSError as error:
        print(f"{path}: cannot read: {error.strerror}", file=sys.stderr)
        tally.bad += 1
    store()


def _explain(args: argparse.Namespace, site: Site, rater: Rater) -> int:
    try:
        call = _explained_call(site, args.caller, args.to, args.seconds, args.org)
    except ValueError as error:
        print(f"bizpbx rate --explain: {error}", file=sys.stderr)
        return EXIT_INVALID
    rating = rater.rate(call)
    if args.json:
        print(json.dumps(_as_json(call, rating), ensure_ascii=False, indent=2))
    else:
        print(_as_text(call, rating))
    return EXIT_PROBLEMS if rating.outcome is RatingOutcome.UNRATED else 0


def _explained_call(site: Site, caller: str, to: str, seconds: int, org_id: str | None) -> CallRecord:
    if org_id is not None and org_id not in site.organizations:
        raise ValueError(f"--org {org_id}: no such organization (the site has {', '.join(site.organizations)})")
    if org_id is None:
        owners = [oid for oid, org in site.organizations.items() if caller in org.employees]
        if len(owners) > 1:
            raise ValueError(f"--from {caller}: an extension of organizations {', '.join(owners)}; say which with --org")
        org_id = owners[0] if owners else None
    digits = e164_digits(to)
    number = site.numbers.get(f"+{digits}") if digits else None
    answer_epoch = int(time.time()) if seconds else 0
    if number is not None:
        return CallRecord(f"explain-{digits}", number.organization or "", Direction.INBOUND, f"+{digits}", number.kind, caller, to, answer_epoch, seconds)
    if org_id is not None and to in site.organizations[org_id].employees:
        return CallRecord("explain-internal", org_id, Direction.INTERNAL, "", None, caller, to, answer_epoch, seconds)
    return CallRecord("explain-outbound", org_id or "", Direction.OUTBOUND, to, None, caller, to, answer_epoch, seconds)


def _as_json(call: CallRecord, rating: Rating) -> dict[str, object]:
    return {
        "cost": str(rating.cost),
        "currency": "RUB",
        "rule": rating.rule.value,
        "outcome": rating.outcome.value,
        "prefix": rating.prefix,
        "rate_per_minute": str(rating.rate) if rating.rate is not None else None,
        "seconds": call.billsec,
        "billed_seconds": rating.billed_seconds,
        "direction": call.direction.value,
        "payer": rating.payer or None,
        "reason": rating.reason,
    }


def _as_text(call: CallRecord, rating: Rating) -> str:
    kind = f" ({call.number_kind} number)" if call.number_kind else ""
    payer = f", organization {rating.payer}" if rating.payer else ""
    return "\n".join(
        (
            f"{rating.cost} RUB  {rating.rule} ({rating.outcome})",
            f"call: {call.direction} from {call.caller} to {call.callee}{kind}, {call.billsec} s answered{payer}",
            f"billed: {rating.billed_seconds} s" + (f" at prefix {rating.prefix}" if rating.prefix else ""),
            f"why: {rating.reason}",
        )
    )
