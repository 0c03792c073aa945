#!/usr/bin/env python3
"""Print FreeSWITCH's call events as they happen, one line each.

    ESL_PASSWORD=... python watch_calls.py [--host 127.0.0.1] [--port 8021]

The password comes from ``ESL_PASSWORD`` or ``--password-file`` (never the
command line, which every user of the machine can read). Stops on Ctrl-C or
SIGTERM, saying ``exit`` to FreeSWITCH first. Exit status 1 when FreeSWITCH
cannot be reached, refuses the password, or is lost for good.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from bizpbx.esl import EslError, Event
from bizpbx.esl.aio import InboundClient

CALL_EVENTS = ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"]


def describe(event: Event) -> str:
    """One line: the event, the channel, who called whom; the cause and billed seconds at the end of a call."""
    line = (
        f"{event.name} {event.unique_id} {event.get('Call-Direction', '-')} "
        f"from={event.get('Caller-Caller-ID-Number', '-')} to={event.get('Caller-Destination-Number', '-')}"
    )
    if event.name == "CHANNEL_HANGUP_COMPLETE":
        line += f" cause={event.get('Hangup-Cause', '-')} billsec={event.get('variable_billsec', '-')}"
    return line


def password_from(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        return args.password_file.read_text().strip()
    password = os.environ.get("ESL_PASSWORD")
    if not password:
        raise SystemExit("watch_calls: set ESL_PASSWORD or give --password-file")
    return password


async def print_events(events: AsyncIterator[Event]) -> None:
    async for event in events:
        print(describe(event), flush=True)


async def watch(args: argparse.Namespace, password: str) -> int:
    client = InboundClient(args.host, args.port, password, events=CALL_EVENTS)
    events = client.events()  # before connecting, so no event falls between subscribing and reading
    try:
        await client.connect()
    except (OSError, EslError) as error:
        print(f"watch_calls: FreeSWITCH at {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    print(f"watching FreeSWITCH at {args.host}:{args.port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signal_number, stop.set)
    printing = asyncio.create_task(print_events(events))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({printing, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    await client.close()  # ends the iterator, so printing finishes
    try:
        await printing
    except EslError as error:  # the client gave up (a refused password on reconnection)
        print(f"watch_calls: FreeSWITCH at {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("ESL_HOST", "127.0.0.1"), help="event socket address (ESL_HOST)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ESL_PORT", "8021")), help="event socket port (ESL_PORT)")
    parser.add_argument("--password-file", type=Path, help="a file holding the password (else ESL_PASSWORD)")
    args = parser.parse_args(argv)
    return asyncio.run(watch(args, password_from(args)))


if __name__ == "__main__":
    sys.exit(main())
