"""`bizpbx reload SITE [--conf-dir DIR]`: make the running FreeSWITCH take the
rendered configuration (the freeswitch unit's ExecReload, `systemctl reload
freeswitch`; calls in progress are not touched).

It connects to the event socket with the site's password and runs `reloadxml`,
then `reloadacl` (the access lists are not reloaded with the XML), then brings
the trunks into the running SIP profiles: `sofia profile NAME killgw GATEWAY`
for each changed or removed trunk and `sofia profile NAME rescan` (a new or
changed trunk registers anew; calls on other trunks are not touched). A
profile whose own settings (address, port) changed is named as "needs
restart": those apply only when the switch restarts. The event
socket reads its own configuration (address, port, password) only when
mod_event_socket loads: when the rendered event_socket.conf.xml is not the one
the running switch loaded (which `bizpbx render` keeps beside the configuration
directory, root only), the command reloads that module with `bgapi reload
mod_event_socket` (every event socket connection drops, this one too; the
controller reconnects by itself), checks that the switch then accepts the
current password, and records the rendered configuration as the loaded one.

A switch still on the previous password is reached with that one: the current
password is tried first, then the previous one. Neither is ever printed.

Exit status: 0 reloaded; 1 the switch could not be reached, refused the
passwords or failed a command (the reason is printed); 2 an invalid site, no
ESL password, or a configuration not rendered from this site's esl settings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bizpbx.render import sofia_changes
from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_for_event_socket
from bizpbx.esl import commands
from bizpbx.esl.aio import InboundClient
from bizpbx.esl.errors import AuthenticationError, ConnectionLost, ConnectionRejected, EslError, ProtocolError
from bizpbx.esl.events import Event
from bizpbx.render.loaded_event_socket import (
    EventSocketConfError,
    EventSocketSettings,
    loaded_path,
    read_loaded,
    record_loaded,
    rendered_path,
)

EXIT_FAILED = 1

CONNECT_SECONDS = 10.0  # to connect and authenticate
COMMAND_SECONDS = 60.0  # for reloadxml to read a large configuration
MODULE_RELOAD_SECONDS = 20.0  # for the reloaded mod_event_socket to accept the current password
RETRY_SECONDS = 0.25


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reload",
        help="make the running FreeSWITCH take the rendered configuration (the event socket's password too)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_site_argument(parser)
    parser.add_argument(
        "--conf-dir", type=Path, metavar="DIR", help="the rendered configuration directory (default: the site's freeswitch.conf_dir)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    site = load_for_event_socket(args.site)
    if site is None:
        return EXIT_INVALID
    conf_dir: Path = args.conf_dir or site.freeswitch.conf_dir
    current = EventSocketSettings(str(site.esl.host), site.esl.port, site.esl.password.get_secret_value())
    conf = rendered_path(conf_dir)
    try:
        rendered_bytes = conf.read_bytes()
        rendered = EventSocketSettings.parse(rendered_bytes, conf)
    except FileNotFoundError:
        print(f"{conf}: missing; render the configuration first (bizpbx render {args.site} --out {conf_dir})", file=sys.stderr)
        return EXIT_INVALID
    except (OSError, EventSocketConfError) as error:
        print(f"{conf}: cannot be read: {error}", file=sys.stderr)
        return EXIT_INVALID
    if rendered != current:
        print(
            f"{conf}: not rendered from the esl settings of {args.site} (its address, port or password differ); "
            f"render it first (bizpbx render {args.site} --out {conf_dir})",
            file=sys.stderr,
        )
        return EXIT_INVALID
    return asyncio.run(reload_switch(conf_dir, current, rendered_bytes))


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a connection attempt failed, in words that never hold a password."""

    kind: str  # refused (the password), rejected (the ACL), unreachable
    detail: str

    def as_current(self, settings: EventSocketSettings) -> str:
        if self.kind == "refused":
            return "the current password was refused"
        if self.kind == "rejected":
            return f"the event socket at {settings.address} rejected this host ({self.detail})"
        return f"the event socket at {settings.address} could not be reached ({self.detail})"

    def as_previous(self, settings: EventSocketSettings) -> str:
        if self.kind == "refused":
            return "the previous one was refused too"
        if self.kind == "rejected":
            return f"with the previous one, the event socket at {settings.address} rejected this host ({self.detail})"
        return f"with the previous one, the event socket at {settings.address} could not be reached ({self.detail})"


async def _connect(settings: EventSocketSettings) -> InboundClient | _Failure:
    """Connected and authenticated, or why not."""
    client = InboundClient(settings.host, settings.port, settings.password, reconnect=False)
    try:
        await asyncio.wait_for(client.connect(), CONNECT_SECONDS)
    except AuthenticationError:
        return _Failure("refused", "-ERR invalid")
    except ConnectionRejected:
        return _Failure("rejected", "its ACL")
    except TimeoutError:
        return _Failure("unreachable", f"no answer within {CONNECT_SECONDS:.0f} s")
    except OSError as error:
        return _Failure("unreachable", error.strerror or type(error).__name__)
    except (EslError, ProtocolError) as error:
        return _Failure("unreachable", str(error))
    return client


async def _close(client: InboundClient) -> None:
    try:
        await asyncio.wait_for(client.close(), CONNECT_SECONDS)
    except (TimeoutError, OSError, EslError):
        pass  # leaving anyway


async def reload_switch(
    conf_dir: Path, current: EventSocketSettings, rendered: bytes, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """reloadxml and reloadacl on the running switch, then, if its event socket
    runs with another configuration than `rendered`, reload mod_event_socket
    and check the switch accepts `current`. The exit status of `bizpbx reload`."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        loaded = read_loaded(conf_dir)
    except OSError as error:
        print(f"{loaded_path(conf_dir)}: cannot be read ({error.strerror}); going on with the current password only", file=err)
        loaded = None
    pending = loaded is not None and loaded != rendered
    previous = None
    if pending:
        try:
            previous = EventSocketSettings.parse(loaded, loaded_path(conf_dir))
        except EventSocketConfError as error:
            print(f"{error}; going on with the current password only", file=err)

    reached = await _connect(current)
    if isinstance(reached, _Failure):
        failure = reached
        # The previous configuration helps only if it has another password, or another address to reach.
        if previous is None or previous == current or (failure.kind != "refused" and previous.address == current.address):
            print(f"{failure.as_current(current)}; {_no_previous(conf_dir, failure, pending, previous)}", file=err)
            return EXIT_FAILED
        reached = await _connect(previous)
        if isinstance(reached, _Failure):
            print(f"{failure.as_current(current)}; {reached.as_previous(previous)}: the switch was not reloaded", file=err)
            return EXIT_FAILED
        print(f"{failure.as_current(current)}; the previous one was accepted: the switch still runs with the previous event socket configuration", file=out)
    client = reached

    try:
        for command in ("reloadxml", "reloadacl"):
            try:
                answer = (await asyncio.wait_for(client.api(command), COMMAND_SECONDS)).strip()
            except (TimeoutError, OSError, EslError) as error:
                print(f"{command}: no answer from the switch ({str(error) or type(error).__name__})", file=err)
                return EXIT_FAILED
            if not answer.startswith("+OK"):
                print(f"{command} failed: {answer}", file=err)
                return EXIT_FAILED
            print(f"{command}: {answer}", file=out)
        if not await _apply_sofia(client, conf_dir, out, err):
            return EXIT_FAILED
        if not pending:
            _record(conf_dir, rendered, err)  # the switch accepted it: now known to be the loaded one
            return 0
        print(
            "the event socket configuration is not the one the switch loaded: reloading mod_event_socket "
            "(event socket connections drop; the controller reconnects)",
            file=out,
        )
        dropped = client.events()  # raises ConnectionLost when the switch drops this connection
        try:
            reply = await asyncio.wait_for(client.send(commands.bgapi("reload mod_event_socket")), COMMAND_SECONDS)
        except ConnectionLost:
            reply = None  # dropped before the answer: the check below tells whether the module came back
        except (TimeoutError, OSError, EslError) as error:
            print(f"reload mod_event_socket: no answer from the switch ({str(error) or type(error).__name__})", file=err)
            return EXIT_FAILED
        # FreeSWITCH runs an (un|re)load of mod_event_socket in the background itself, whichever the verb,
        # and answers as to `api`: an api/response whose body is `+OK Job-UUID: ...` (a plain bgapi's
        # answer is a command/reply saying the same); then "The system is being shut down." and the socket closes.
        answer = "" if reply is None else (reply.reply_text or reply.body or "").strip()
        if reply is not None and not answer.startswith("+OK"):
            print(f"reload mod_event_socket refused: {answer}", file=err)
            return EXIT_FAILED
        try:
            await asyncio.wait_for(_drain(dropped), MODULE_RELOAD_SECONDS)
        except TimeoutError:
            pass  # the check below tells whether the module came back
    finally:
        await _close(client)

    return await _check_reloaded(conf_dir, current, previous, rendered, out, err)


async def _apply_sofia(client: InboundClient, conf_dir: Path, out: TextIO, err: TextIO) -> bool:
    """New and changed trunks (gateways) into the running SIP profiles; say which profiles need a restart."""
    try:
        rendered = sofia_changes.fingerprints((conf_dir / sofia_changes.SOFIA_CONF).read_bytes())
    except FileNotFoundError:
        return True  # a tree without SIP profiles (only the event socket's): nothing to bring in
    except (OSError, ET.ParseError) as error:
        print(f"{conf_dir / sofia_changes.SOFIA_CONF}: cannot be read ({error}); SIP profiles not rescanned", file=err)
        return False
    plan = sofia_changes.changes(sofia_changes.read_loaded(conf_dir), rendered)
    for command in plan.commands:
        try:
            answer = (await asyncio.wait_for(client.api(command), COMMAND_SECONDS)).strip()
        except (TimeoutError, OSError, EslError) as error:
            print(f"{command}: no answer from the switch ({str(error) or type(error).__name__})", file=err)
            return False
        if answer.startswith("-ERR") or "Invalid" in answer:
            print(f"{command} failed: {answer}", file=err)
            return False
        print(f"{command}: {answer.splitlines()[-1] if answer else 'done'}", file=out)
    for profile in plan.restart_for:
        print(f"needs restart: the SIP profile {profile}'s settings (address, port) changed; they apply when the switch restarts (systemctl restart freeswitch, at a quiet moment)", file=out)
    try:
        sofia_changes.record_loaded(conf_dir, rendered)
    except OSError as error:
        print(f"{sofia_changes.loaded_path(conf_dir)}: cannot record what was applied ({error.strerror})", file=err)
    return True


async def _drain(events: AsyncIterator[Event]) -> None:
    """Until the switch drops the connection (which, without reconnection, is the ConnectionLost that ends it)."""
    with contextlib.suppress(ConnectionLost):
        async for _ in events:
            pass


async def _check_reloaded(
    conf_dir: Path, current: EventSocketSettings, previous: EventSocketSettings | None, rendered: bytes, out: TextIO, err: TextIO
) -> int:
    """Until the reloaded module accepts the current password (the old one may
    answer for a moment while it stops)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MODULE_RELOAD_SECONDS
    while True:
        reached = await _connect(current)
        if not isinstance(reached, _Failure):
            await _close(reached)
            print("mod_event_socket reloaded: the switch accepts the current password", file=out)
            _record(conf_dir, rendered, err)
            return 0
        if loop.time() >= deadline:
            break
        await asyncio.sleep(RETRY_SECONDS)
    still = ""
    if previous is not None and previous != current and not isinstance(old := await _connect(previous), _Failure):
        await _close(old)
        still = "; the previous one is still accepted (the module did not reload)"
    print(f"mod_event_socket was reloaded, but {reached.as_current(current)}{still}", file=err)
    return EXIT_FAILED


def _record(conf_dir: Path, rendered: bytes, err: TextIO) -> None:
    try:
        record_loaded(conf_dir, rendered)
    except OSError as error:
        # Reloaded all the same; the next reload only reloads mod_event_socket once more.
        print(f"{loaded_path(conf_dir)}: cannot record the configuration the switch loaded ({error.strerror})", file=err)


def _no_previous(conf_dir: Path, failure: _Failure, pending: bool, previous: EventSocketSettings | None) -> str:
    if failure.kind == "unreachable":
        return "is the switch running?"
    if failure.kind == "rejected":
        return "check esl.acl, or restart the switch to apply the rendered access lists (systemctl restart freeswitch)"
    if previous is not None:
        return "the previous one is the same"
    if pending:
        return f"the previous one cannot be read from {loaded_path(conf_dir)}: restart the switch to apply the current one (systemctl restart freeswitch)"
    return (
        f"no previous event socket configuration is kept ({loaded_path(conf_dir)}, written by bizpbx render when it changes): "
        "restart the switch to apply the current one (systemctl restart freeswitch)"
    )
