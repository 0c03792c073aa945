"""`bizpbx route --explain SITE --to N --from N [--digits D] [--at TIME] [--json]`:
how the controller would route a call, step by step, without a switch."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.routing import Call, Source
from bizpbx.routing.explain import as_json, as_text, describe, follow
from bizpbx.settings import Site

EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("route", help="show how a call would be routed", description=__doc__)
    parser.add_argument("--explain", action="store_true", help="say why each step is there")
    add_site_argument(parser)
    parser.add_argument("--to", required=True, metavar="N", help="the number or extension dialled")
    parser.add_argument("--from", dest="caller", required=True, metavar="N", help="the caller: an extension (a call from a phone) or a number (from the trunk)")
    parser.add_argument("--org", metavar="ID", help="the caller's organization, when its extension exists in several")
    parser.add_argument(
        "--digits",
        default="",
        metavar="D",
        help=(
            "what the caller keys in, one comma-separated entry per attempt at a prompt (organization ID, then menu keys; "
            "a wrong entry is asked for again while attempts remain); an empty entry is a timeout"
        ),
    )
    parser.add_argument("--at", metavar="TIME", help="when the call happens (ISO 8601; without a zone: the site's time zone); default now")
    parser.add_argument("--json", action="store_true", help="the plans as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    try:
        now = _when(args.at, site)
        call = _call(site, args.caller, args.to, args.org)
    except ValueError as error:
        print(f"bizpbx route: {error}", file=sys.stderr)
        return EXIT_USAGE
    keys = args.digits.split(",") if args.digits else []
    stages = follow(call, site, now, keys)
    if args.json:
        print(json.dumps(as_json(call, stages), ensure_ascii=False, indent=2))
    elif args.explain:
        print(as_text(call, stages))
    else:
        for stage in stages:
            for index, step in enumerate(stage.plan.steps):
                print(describe(index, step, stage.refusals.get(index)).split("  — ")[0])
    return 0


def _when(text: str | None, site: Site) -> datetime:
    if text is None:
        return datetime.now(site.zone)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--at {text!r} is not an ISO 8601 time such as 2026-11-25T10:30") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=site.zone)


def _call(site: Site, caller: str, destination: str, org: str | None) -> Call:
    if org is not None:
        if org not in site.organizations:
            raise ValueError(f"--org {org}: no such organization (the site has {', '.join(site.organizations)})")
        if caller not in site.organizations[org].employees:
            raise ValueError(f"--from {caller}: not an extension of organization {org}")
        return Call(Source.PHONE, caller, destination, org_id=org, user=f"{org}-{caller}")
    owners = [org_id for org_id, o in site.organizations.items() if caller in o.employees]
    if len(owners) > 1:
        raise ValueError(f"--from {caller}: extension of organizations {', '.join(owners)}; say which with --org")
    if owners:
        return Call(Source.PHONE, caller, destination, org_id=owners[0], user=f"{owners[0]}-{caller}")
    if caller.isdigit() and len(caller) <= 6:
        raise ValueError(f"--from {caller}: no organization has this extension")
    return Call(Source.TRUNK, caller, destination)
