"""Reloading the site without a restart (SIGHUP; `systemctl reload bizpbx-controller`).

The new site is read and checked whole, with its secrets, before anything
changes: an invalid one is refused, its problems logged, and the running
site kept. A valid one is taken at once for the calls that begin from then
on; a call in progress keeps the site it began with (its plan, its menus,
the guard's limits it was checked against). What lives beside the site
stays as it is: the metrics, the toll-fraud guard's count of outbound calls
in progress (today's spend is the ledger's), the outbox and the webhooks'
cursors, the trunks' states. Webhooks added, removed or changed get their
delivery loops started or stopped; other event socket settings make the
controller connect anew with them.

The click-to-call API's clients and the recordings' secret are taken at
once too. The listening addresses (controller.metrics, controller.api, and
whether the HTTP listener runs at all) and the ledger
(its file or PostgreSQL database) are taken only at start: a reload that
changes them says so in the log and in `bizpbx status` ("needs restart")
until the controller restarts.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bizpbx.rating import Rater
from bizpbx.settings import Site
from bizpbx.site_loader import SiteError, load_site
from bizpbx.site_rules import secrets_required

if TYPE_CHECKING:
    from bizpbx.controller.service import Controller

log = logging.getLogger(__name__)

RESTART_ONLY = {
    "controller.metrics": lambda site: site.controller.metrics,
    "controller.api": lambda site: (site.controller.api.host, site.controller.api.port, bool(site.controller.api.clients) or site.recordings.http is not None),
    "controller.ledger": lambda site: site.controller.ledger,
    "controller.postgresql": lambda site: site.controller.postgresql,
}


def needs_restart(running: Site, new: Site) -> list[str]:
    """The settings of `new` that differ from those the controller started with and apply only on restart."""
    return [name for name, read in RESTART_ONLY.items() if read(running) != read(new)]


def _event_socket(site: Site) -> tuple[str, int, str]:
    return str(site.esl.host), site.esl.port, site.esl.password.get_secret_value()


class SiteReload:
    def __init__(self, controller: Controller) -> None:
        self._controller = controller
        self._started_with = controller.site
        self._lock = asyncio.Lock()
        self._requests: set[asyncio.Task] = set()
        self.restart_needed: list[str] = []

    def request(self, path: Path) -> None:
        """From the SIGHUP handler: reload in the background, one reload at a time."""
        task = asyncio.get_running_loop().create_task(self.reload(path), name="site reload")
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def reload(self, path: Path) -> bool:
        async with self._lock:
            controller = self._controller
            try:
                with secrets_required(True):
                    new = load_site(path)
                rater = Rater(new)
            except SiteError as error:
                controller.metrics.site_reload_failures.inc()
                log.error("site %s not reloaded: %d problem(s); the running site is kept", error.source, len(error.problems))
                for where, reason in error.problems:
                    log.error("site %s: %s: %s", error.source, where, reason)
                return False
            await self._apply(new, rater)
            self.restart_needed = needs_restart(self._started_with, new)
            controller.metrics.site_reloads.inc()
            controller.metrics.restart_needed_for(self.restart_needed)
            log.info("site reloaded from %s: calls from now on use it; %d call(s) in progress keep their own", path, len(controller.handler.active))
            if self.restart_needed:
                log.warning("needs restart: %s changed, and take effect only when the controller restarts", ", ".join(self.restart_needed))
            return True

    async def _apply(self, new: Site, rater: Rater) -> None:
        controller, old = self._controller, self._controller.site
        controller.site = new
        controller.handler.use(new, rater)
        controller.accounting.use(new, rater)
        controller.trunks.watch.set_trunks(new.trunks)
        if controller.cdr_dir == old.freeswitch.log_dir / "cdr-csv":
            controller.cdr_dir = new.freeswitch.log_dir / "cdr-csv"
        self._webhooks(old, new)
        if _event_socket(old) != _event_socket(new):
            log.info("event socket settings changed: connecting to %s:%s anew", new.esl.host, new.esl.port)
            previous, previous_commands = controller.inbound, controller.command_sockets
            for name in [name for name in controller.tasks if name in ("event socket", "trunks", "stranded calls", "parked calls") or name.startswith("command socket")]:
                controller.tasks.pop(name).cancel()
            controller.inbound = controller.event_socket(new)
            controller.command_sockets = controller.command_sockets_for(new)
            controller.start_event_socket()
            await previous.close()
            await previous_commands.close()
        controller.http.endpoints = controller.http_endpoints(new)  # after the event socket: the API asks the switch through it

    def _webhooks(self, old: Site, new: Site) -> None:
        controller = self._controller
        kept = []
        for delivery in controller.deliveries:
            if new.controller.webhooks.get(delivery.name) == old.controller.webhooks[delivery.name]:
                kept.append(delivery)
            else:
                controller.tasks.pop(f"webhook {delivery.name}").cancel()
        names = {delivery.name for delivery in kept}
        for name, hook in new.controller.webhooks.items():
            if name not in names:
                delivery = controller.delivery(name, hook)
                kept.append(delivery)
                controller.start(f"webhook {name}", delivery.run())
        controller.deliveries = kept
