"""`bizpbx validate SITE`: check a site, print a summary or every problem."""

from __future__ import annotations

import argparse

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.settings import Site
from bizpbx.site_loader import missing_secrets


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("validate", help="check a site file", description=__doc__)
    add_site_argument(parser)
    parser.set_defaults(handler=run)


def summary(site: Site) -> str:
    employees = sum(len(org.employees) for org in site.organizations.values())
    with_telephony = sum(org.has_telephony for org in site.organizations.values())
    lines = [
        f"site {site.name}: valid",
        f"  trunks: {len(site.trunks)} ({', '.join(site.trunks)})",
        f"  numbers: {len(site.numbers)}; main number {site.main_number.number}"
        + ("" if site.trunk_delivering(site.main_number.number) else " (no trunk delivers it: not used)"),
        f"  organizations: {len(site.organizations)} ({with_telephony} with a telephony plan), employees: {employees}",
    ]
    pending = len(missing_secrets(site))
    if pending:
        lines.append(f"  {pending} SIP password(s)/PIN(s) will be generated and stored on the first render")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    print(summary(site))
    return 0
