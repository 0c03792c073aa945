"""What the subcommands share: the SITE argument and reporting a bad site."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bizpbx.settings import Site
from bizpbx.site_loader import SiteError, load_site

EXIT_INVALID = 2


def add_site_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("site", type=Path, metavar="SITE", help="the site file (YAML)")


def load_or_report(path: Path, *, generate_missing_secrets: bool = False) -> Site | None:
    """The site, or None after printing every problem as `path: reason`."""
    try:
        return load_site(path, generate_missing_secrets=generate_missing_secrets)
    except SiteError as error:
        print(f"{error.source}: invalid site, {len(error.problems)} problem(s):", file=sys.stderr)
        for where, reason in error.problems:
            print(f"{where}: {reason}", file=sys.stderr)
        return None
