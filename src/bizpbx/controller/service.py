"""The controller process: the parts wired together, started and stopped cleanly.

- the outbound socket server runs each call's plan (`CallHandler`);
- an inbound event socket feeds runtime rating and call events (`Accounting`);
- a sweep of the CDR files takes calls missed while down or disconnected;
- one delivery loop per webhook; the metrics endpoint (loopback unless the site lists monitoring networks);
- the HTTP listener of the click-to-call API and the recordings' signed URLs (`HttpServer`).

On SIGTERM (or SIGINT) the controller's socket stops listening first, so a
call arriving from then on is refused at once and the dialplan's fallback
takes it (a call accepted and then left unanswered would wait in the
`socket` application indefinitely); calls in progress get up to
`grace_seconds` to end, the CDR files are swept a last time and the
webhooks get a last chance to take what is pending.

Nothing that can be fixed while running stops the controller: an event
socket that refuses the password is tried again with backoff (the switch
may not have reloaded a new one yet), unreadable CDR files are reported and
read again at every sweep. What it cannot run without (its listening
sockets, its ledger) stops the start with `StartupError`, naming which.

With the ledger in PostgreSQL (`controller.postgresql`) the controller is one
node of several: the toll-fraud guard counts outbound calls in progress in
the database (kept alive by a heartbeat), and each webhook's deliveries and
each CDR file's reading are done by one node at a time, under a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

from bizpbx.backoff import backoff_delays
from bizpbx.controller.accounting import SUBSCRIBED_EVENTS, Accounting
from bizpbx.controller.call_api import CallApiEndpoint
from bizpbx.controller.http_server import HttpServer
from bizpbx.controller.call_events import CallEvent
from bizpbx.controller.executor import CallHandler
from bizpbx.controller.metrics import Metrics, serve_metrics
from bizpbx.controller.recordings import clean_up
from bizpbx.controller.recordings_http import RecordingsEndpoint
from bizpbx.controller.outbox import Outbox
from bizpbx.controller.webhooks import Delivery, lease_seconds
from bizpbx.esl.aio import InboundClient, OutboundServer
from bizpbx.esl.errors import AuthenticationError, ConnectionRejected, EslError
from bizpbx.esl.events import Event
from bizpbx.ledger import Ledger
from bizpbx.ledger.cluster import ActiveCalls, Lease
from bizpbx.ledger.database import DATABASE_ERRORS, describe, open_database
from bizpbx.rating import Rater
from bizpbx.settings import Site

log = logging.getLogger(__name__)

CDR_SWEEP_SECONDS = 5.0
RETENTION_SECONDS = 3600.0  # recordings age by days: an hourly pass is plenty
LINGER_SECONDS = 5  # the last events of a call still reach its socket after hangup
FLUSH_SECONDS = 5.0
CDR_LEASE_SECONDS = 60.0  # renewed after every chunk of a CDR file read


class StartupError(RuntimeError):
    """What the controller cannot run without, and why (the message names it)."""


async def _listen(what: str, host: str, port: int, start) -> object:
    try:
        return await start()
    except OSError as error:
        raise StartupError(f"{what} {host}:{port}: {error.strerror or error}") from None


class Controller:
    def __init__(self, site: Site, *, grace_seconds: float = 30.0, cdr_dir: Path | None = None) -> None:
        self.site = site
        self.grace_seconds = grace_seconds
        self.cdr_dir = cdr_dir or site.freeswitch.log_dir / "cdr-csv"
        self.metrics = Metrics(
            outbox_depth=lambda: self.outbox.depth(d.name for d in self.deliveries), esl_connected=lambda: int(self.inbound.connected), esl_refusals=lambda: self.inbound.refusals
        )
        where, cluster = site.controller.ledger_database, site.controller.postgresql
        try:
            self.ledger = Ledger(where)
            self.outbox = Outbox(where)
            self._cluster_db = open_database(cluster) if cluster else None
        except (OSError, *DATABASE_ERRORS) as error:
            raise StartupError(f"ledger {describe(where)}: {error}") from None
        node = cluster.node if cluster else ""
        db = self._cluster_db
        self.active_calls = ActiveCalls(db, node) if db else None
        rater = Rater(site)
        self.accounting = Accounting(
            rater, self.ledger, self.outbox, self.metrics, site, file_lease=(lambda name: Lease(db, name, node, CDR_LEASE_SECONDS)) if db else None
        )
        self.deliveries = [
            Delivery(name, hook, self.outbox, metrics=self.metrics, lease=Lease(db, f"webhook:{name}", node, lease_seconds(hook)) if db else None)
            for name, hook in site.controller.webhooks.items()
        ]
        self.metrics.watch_webhooks(lambda: self.deliveries)
        self.handler = CallHandler(site, rater, self.ledger.spend, self.metrics, self.emit, self.active_calls)
        self.inbound = InboundClient(
            str(site.esl.host), site.esl.port, site.esl.password.get_secret_value(), events=SUBSCRIBED_EVENTS, on_event=self._on_event, retry_refusals=True
        )

    def emit(self, event: CallEvent) -> None:
        self.outbox.add([event.as_row()])
        self._wake_deliveries()

    def _wake_deliveries(self) -> None:
        for delivery in self.deliveries:
            delivery.wake.set()

    def _on_event(self, event: Event) -> None:
        self.accounting.on_event(event)
        self._wake_deliveries()

    async def run(self, stop: asyncio.Event) -> None:
        new = self.accounting.catch_up(self.cdr_dir)
        log.info("CDR files read on start: %d call(s) new to the ledger", new)
        socket, metrics_listen = self.site.controller.socket, self.site.controller.metrics
        outbound = OutboundServer(self.handler, str(socket.host), socket.port, linger=LINGER_SECONDS)
        await _listen("controller.socket", str(socket.host), socket.port, outbound.start)
        try:
            metrics_server = await _listen(
                "controller.metrics", str(metrics_listen.host), metrics_listen.port, lambda: serve_metrics(self.metrics, str(metrics_listen.host), metrics_listen.port)
            )
        except StartupError:
            await outbound.close()
            raise
        http_server = await self._start_http(outbound, metrics_server)
        tasks = [asyncio.create_task(d.run(), name=f"webhook {d.name}") for d in self.deliveries]
        tasks += [asyncio.create_task(self._keep_connected(self.inbound), name="event socket"), asyncio.create_task(self._sweep(self.inbound), name="CDR sweep")]
        tasks.append(asyncio.create_task(self._recordings_retention(), name="recordings retention"))
        if self.active_calls is not None:
            tasks.append(asyncio.create_task(self._heartbeat(self.active_calls), name="heartbeat"))
        self.metrics.up.set(1)
        log.info("controller running: socket %s:%s, metrics %s:%s", socket.host, socket.port, metrics_listen.host, metrics_listen.port)
        await stop.wait()
        if http_server is not None:
            http_server.close()
        await self._shut_down(outbound, metrics_server, self.inbound, tasks)

    async def _start_http(self, outbound: OutboundServer, metrics_server: asyncio.Server) -> asyncio.Server | None:
        """The HTTP listener: the click-to-call API when the site names clients for it, the
        recordings when recordings.http is set; none without either."""
        api = self.site.controller.api
        endpoints = [CallApiEndpoint(self.site, self.handler, self.inbound)] if api.clients else []
        if self.site.recordings.http is not None:
            endpoints.append(RecordingsEndpoint(self.site))
        if not endpoints:
            return None
        try:
            return await _listen("controller.api", str(api.host), api.port, lambda: HttpServer(endpoints).serve(str(api.host), api.port))
        except StartupError:
            await outbound.close()
            metrics_server.close()
            raise

    async def _keep_connected(self, inbound: InboundClient) -> None:
        for delay in backoff_delays(0.5, 30.0):
            try:
                await inbound.connect()
                log.info("event socket %s:%s: connected, call events flow", inbound.host, inbound.port)
                return
            except (AuthenticationError, ConnectionRejected) as error:
                inbound.refusals += 1
                log.error("event socket: %s; again in %.1f s (runtime rating rests on the CDR files meanwhile)", error, delay)
            except (OSError, EslError) as error:
                log.warning("event socket %s:%s: %s; again in %.1f s", inbound.host, inbound.port, error, delay)
            await asyncio.sleep(delay)

    async def _sweep(self, inbound: InboundClient) -> None:
        """Every few seconds, and so soon after a reconnection, read what the CDR files added."""
        seen = 0
        while True:
            await asyncio.sleep(CDR_SWEEP_SECONDS)
            if inbound.connections > max(seen, 1):
                self.metrics.esl_reconnects.inc(inbound.connections - max(seen, 1))
            seen = max(seen, inbound.connections)
            try:
                self.sweep_once()
            except Exception:  # the next sweep tries again; a dead sweep would rate nothing more
                log.exception("CDR sweep failed")

    async def _heartbeat(self, active_calls: ActiveCalls) -> None:
        """Keep this node's outbound calls in progress counted (a dead node's lapse)."""
        while True:
            await asyncio.sleep(active_calls.ttl / 4)
            try:
                active_calls.keep_alive()
            except Exception:  # the next beat tries again, well before the rows lapse
                log.exception("heartbeat of the calls in progress failed")

    async def _recordings_retention(self) -> None:
        """At start and every RETENTION_SECONDS: the recordings over their age or the disk limit go."""
        while True:
            try:
                await asyncio.to_thread(_retention_pass, self.site)
            except Exception:  # tried again next time; recording goes on meanwhile
                log.exception("recordings retention failed")
            await asyncio.sleep(RETENTION_SECONDS)

    def sweep_once(self) -> int:
        new = self.accounting.catch_up(self.cdr_dir)
        if new:
            log.info("CDR files: %d call(s) the event socket had not delivered", new)
            self._wake_deliveries()
        return new

    async def _shut_down(self, outbound: OutboundServer, metrics_server: asyncio.Server, inbound: InboundClient, tasks: list[asyncio.Task]) -> None:
        outbound.stop_listening()
        self.handler.draining = True
        log.info("stopping: %d call(s) in progress get up to %.0f s", len(self.handler.active), self.grace_seconds)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_seconds
        while self.handler.active and loop.time() < deadline:
            await asyncio.sleep(0.1)
        if self.handler.active:
            log.warning("grace period over: %d call(s) left to the dialplan's fallback", len(self.handler.active))
        await outbound.close()
        await inbound.close()
        self.sweep_once()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained(), FLUSH_SECONDS)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        metrics_server.close()
        await metrics_server.wait_closed()
        if self._cluster_db is not None:
            for delivery in self.deliveries:
                delivery.release_lease()  # another node takes over at once, not when it lapses
            self._cluster_db.close()
        self.outbox.close()
        self.ledger.close()
        log.info("controller stopped")

    async def _drained(self) -> None:
        while any(d.pending() for d in self.deliveries):
            await asyncio.sleep(0.1)


def run_until_signalled(site: Site) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await Controller(site).run(stop)

    asyncio.run(main())


def _retention_pass(site: Site) -> int:
    """One retention pass, in a thread of its own (with its own connection: SQLite's are per thread)."""
    with Ledger(site.controller.ledger_database) as ledger:
        return clean_up(site, ledger, time.time())
