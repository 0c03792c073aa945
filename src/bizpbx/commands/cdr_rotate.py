"""`bizpbx cdr-rotate SITE`: FreeSWITCH starts a new CDR file (`cdr_csv rotate`
over the event socket; the bizpbx role's timer runs it daily).

mod_cdr_csv (with `rotate-on-hup`, as rendered) renames
`cdr-csv/Master.csv` to `Master.csv.YYYY-MM-DD-HH-MM-SS` (the switch's local
time) and opens a new `Master.csv`. It rotates only a file it has written
since it loaded, and a second rotation within the same second would rename
over the first one's file: run it no more than once a second. The
controller's CDR sweep reads the rotated files too (its offsets follow a
file across the rename), so no call is missed or rated twice.

Exit status: 0 rotated (the new file names are printed when the CDR
directory can be read); 1 the switch could not be reached or refused; 2 an
invalid site or no ESL password.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import os
import sys
from pathlib import Path

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_for_event_socket
from bizpbx.esl.errors import AuthenticationError, ConnectionRejected, EslError, ProtocolError
from bizpbx.esl.aio import InboundClient

EXIT_FAILED = 1
SECONDS = 10.0  # to connect, authenticate and rotate
ROTATED = "Master.csv.*"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cdr-rotate", help="FreeSWITCH starts a new CDR file (cdr_csv rotate)", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_site_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    site = load_for_event_socket(args.site)
    if site is None:
        return EXIT_INVALID
    cdr_dir = site.freeswitch.log_dir / "cdr-csv"
    before = _rotated(cdr_dir)
    try:
        answer = asyncio.run(_rotate(str(site.esl.host), site.esl.port, site.esl.password.get_secret_value()))
    except AuthenticationError:
        print(f"bizpbx cdr-rotate: the event socket at {site.esl.host}:{site.esl.port} refused the password", file=sys.stderr)
        return EXIT_FAILED
    except ConnectionRejected:
        print(f"bizpbx cdr-rotate: the event socket at {site.esl.host}:{site.esl.port} rejected this host (its ACL)", file=sys.stderr)
        return EXIT_FAILED
    except (TimeoutError, OSError, EslError, ProtocolError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        print(f"bizpbx cdr-rotate: the event socket at {site.esl.host}:{site.esl.port} could not be reached ({reason}): is the switch running?", file=sys.stderr)
        return EXIT_FAILED
    if not answer.startswith("+OK"):
        print(f"bizpbx cdr-rotate: cdr_csv rotate failed: {answer or 'no answer'} (is mod_cdr_csv loaded?)", file=sys.stderr)
        return EXIT_FAILED
    after = _rotated(cdr_dir)
    new = sorted((after or set()) - (before or set()))
    if after is None:
        print(f"cdr_csv rotate: {answer}")
    elif new:
        print("\n".join(f"{cdr_dir / name}: rotated" for name in new))
    else:
        print(f"cdr_csv rotate: {answer}; no file rotated (nothing written to {cdr_dir / 'Master.csv'} since the switch started)")
    return 0


async def _rotate(host: str, port: int, password: str) -> str:
    client = InboundClient(host, port, password, reconnect=False)
    await asyncio.wait_for(client.connect(), SECONDS)
    try:
        return (await asyncio.wait_for(client.api("cdr_csv rotate"), SECONDS)).strip()
    finally:
        try:
            await asyncio.wait_for(client.close(), SECONDS)
        except (TimeoutError, OSError, EslError):
            pass  # leaving anyway


def _rotated(cdr_dir: Path) -> set[str] | None:
    """The rotated files' names, None when the directory cannot be read."""
    try:
        return {name for name in os.listdir(cdr_dir) if fnmatch.fnmatchcase(name, ROTATED)}
    except OSError:
        return None
