"""`bizpbx show SITE [--json]`: the site as bizpbx reads it, defaults applied
and secrets masked, for tools (the Ansible roles) that need its values."""

from __future__ import annotations

import argparse
import json

import yaml

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("show", help="print the site with defaults applied, secrets masked", description=__doc__)
    add_site_argument(parser)
    parser.add_argument("--json", action="store_true", help="JSON instead of YAML")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    data = site.model_dump(mode="json")
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))
    else:
        print(yaml.safe_dump(data, allow_unicode=True, sort_keys=True), end="")
    return 0
