"""What the subcommands share: the SITE argument and reporting a bad site."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bizpbx.settings import Site
from bizpbx.site_loader import SiteError, load_site
from bizpbx.site_rules import secrets_required

EXIT_INVALID = 2

# The commands that use the site's own secrets (the switch's configuration,
# the event socket, the webhooks) or vouch that a site is ready for them:
# they refuse a site without them and say where to give them. Every other
# command reads a site without its secrets.
COMMANDS_USING_SECRETS = frozenset({"controller", "render", "validate"})


@contextmanager
def secrets_for(command: str) -> Iterator[None]:
    """Sites loaded while `command` runs need their secrets only if it uses them."""
    with secrets_required(command in COMMANDS_USING_SECRETS):
        yield


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


def load_for_event_socket(path: Path) -> Site | None:
    """The site of a command that talks to the switch's event socket: None
    after reporting a bad site or a missing ESL password."""
    site = load_or_report(path)
    if site is not None and site.esl.password is None:
        print("esl.password: required: put it in site.secrets.yml beside the site file, or set BIZPBX_ESL__PASSWORD", file=sys.stderr)
        return None
    return site
