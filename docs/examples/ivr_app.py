#!/usr/bin/env python3
"""An outbound-socket IVR: answers, asks for digits, bridges the caller to the destination they chose.

    python ivr_app.py --listen 127.0.0.1:8084 --route 1=user/101 --route 2=sofia/gateway/carrier/74951234567

Point FreeSWITCH's dialplan at it with ``<action application="socket"
data="127.0.0.1:8084 async full"/>``. Each call: ``answer``, then
``play_and_get_digits`` with the prompt (up to ``--tries`` times; the
invalid prompt after digits that are no route), then ``bridge`` to the
route's dial string. A caller who enters no valid route is hung up on. The
address may also come from ``IVR_LISTEN``, the routes from ``IVR_ROUTES``
(``1=user/101,2=user/102``). One line is printed per step of each call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from bizpbx.esl import ConnectionLost
from bizpbx.esl.aio import OutboundServer, OutboundSession

DIGITS_VARIABLE = "ivr_app_digits"  # the default; a dialplan may already use another name
DIGIT_TIMEOUT_MS = 5000


def parse_route(text: str) -> tuple[str, str]:
    digits, equals, dial_string = text.partition("=")
    if not equals or not digits.isdigit() or not dial_string or any(character.isspace() for character in dial_string):
        raise argparse.ArgumentTypeError(f"a route is DIGITS=DIAL_STRING without spaces, not {text!r}")
    return digits, dial_string


def parse_listen(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit():
        raise argparse.ArgumentTypeError(f"listen on HOST:PORT, not {text!r}")
    return host, int(port)


def digits_argument(routes: dict[str, str], tries: int, prompt: str, invalid_prompt: str, variable: str) -> str:
    """play_and_get_digits' arguments: only a route's digits are accepted, so FreeSWITCH itself asks again."""
    lengths = [len(digits) for digits in routes]
    pattern = "^(" + "|".join(sorted(routes)) + ")$"
    return f"{min(lengths)} {max(lengths)} {tries} {DIGIT_TIMEOUT_MS} # {prompt} {invalid_prompt} {variable} {pattern}"


class Ivr:
    def __init__(self, routes: dict[str, str], tries: int, prompt: str, invalid_prompt: str, variable: str) -> None:
        self.routes = routes
        self.variable = variable
        self.collect = digits_argument(routes, tries, prompt, invalid_prompt, variable)

    async def __call__(self, call: OutboundSession) -> None:
        try:
            await self.serve(call)
        except ConnectionLost:
            say(call, "the caller hung up")

    async def serve(self, call: OutboundSession) -> None:
        say(call, f"call from {call.channel_data.get('Caller-Caller-ID-Number', '-')}")
        await call.execute("answer")
        collected = await call.execute("play_and_get_digits", self.collect)
        digits = collected.get(f"variable_{self.variable}")
        destination = self.routes.get(digits) if isinstance(digits, str) else None
        if destination is None:
            say(call, "no valid digits: hanging up")
            await call.hangup("NO_ROUTE_DESTINATION")
            return
        say(call, f"digits {digits}: bridging to {destination}")
        bridged = await call.execute("bridge", destination)
        say(call, f"bridge ended: {bridged.get('variable_originate_disposition', '-')}")


def say(call: OutboundSession, text: str) -> None:
    print(f"{call.uuid} {text}", flush=True)


async def serve(args: argparse.Namespace) -> int:
    host, port = args.listen
    ivr = Ivr(dict(args.route), args.tries, args.prompt, args.invalid_prompt, args.variable)
    try:
        server = OutboundServer(ivr, host, port)
        await server.start()
    except OSError as error:
        print(f"ivr_app: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 1
    print(f"listening on {host}:{server.port}", flush=True)
    stop = asyncio.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signal_number, stop.set)
    await stop.wait()
    await server.close()  # calls still connected go on in FreeSWITCH's dialplan
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=parse_listen, default=os.environ.get("IVR_LISTEN", "127.0.0.1:8084"),
                        help="HOST:PORT to listen on (IVR_LISTEN); port 0 picks a free one")
    parser.add_argument("--route", type=parse_route, action="append", metavar="DIGITS=DIAL_STRING",
                        help="where DIGITS lead (repeatable; else IVR_ROUTES, comma-separated)")
    parser.add_argument("--tries", type=int, default=3, help="prompts before giving up")
    parser.add_argument("--prompt", default="ivr/ivr-please_enter_extension_followed_by_pound.wav")
    parser.add_argument("--invalid-prompt", default="ivr/ivr-that_was_an_invalid_entry.wav")
    parser.add_argument("--variable", default=DIGITS_VARIABLE, help="the channel variable the digits are kept in")
    args = parser.parse_args(argv)
    if args.route is None:
        try:
            args.route = [parse_route(text) for text in os.environ.get("IVR_ROUTES", "").split(",") if text]
        except argparse.ArgumentTypeError as error:
            parser.error(f"IVR_ROUTES: {error}")
    if not args.route:
        parser.error("give at least one --route (or IVR_ROUTES)")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
