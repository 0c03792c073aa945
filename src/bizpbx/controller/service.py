"""The controller process: the parts wired together, started and stopped cleanly.

- the calls parked for the controller come on its event socket, each run by its plan
  (`ParkedCalls`, `CallHandler`);
- the same event socket feeds runtime rating and call events (`Accounting`);
- a sweep of the CDR files takes calls missed while down or disconnected;
- one delivery loop per webhook; the metrics endpoint (loopback unless the site lists monitoring networks);
- the HTTP listener of the click-to-call API and the recordings' signed URLs (`HttpServer`);
- the trunks' registration states, followed on the event socket (`Trunks`).

On SIGHUP the site is read again and taken for calls that begin from then
on (`SiteReload`).

On SIGTERM (or SIGINT) a call parked from then on is sent to the dialplan's
fallback at once; calls being routed get up to `grace_seconds` to be
answered or end (an answered call, let go, is the switch's alone and is not
waited for), those still being routed then go to the fallback too, the CDR
files are swept a last time and the webhooks get a last chance to take what
is pending.

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

from bizpbx import fs_vocabulary as fs
from bizpbx.backoff import backoff_delays
from bizpbx.controller.accounting import EVENT_FILTERS, EVENT_GRACE_SECONDS, SUBSCRIBED_EVENTS, Accounting
from bizpbx.controller.call_api import CallApiEndpoint
from bizpbx.controller.http_server import HttpServer
from bizpbx.controller.call_events import CallEvent
from bizpbx.controller import parked_calls
from bizpbx.controller.executor import CallHandler
from bizpbx.controller.metrics import Metrics, serve_metrics
from bizpbx.controller.recordings import clean_up
from bizpbx.controller.recordings_http import RecordingsEndpoint
from bizpbx.controller.outbox import Outbox
from bizpbx.controller.parked_calls import COMMAND_SOCKETS, CommandSockets, ParkedCalls
from bizpbx.controller.site_reload import SiteReload
from bizpbx.controller.stranded_calls import StrandedCalls
from bizpbx.controller.trunk_state import GATEWAY_STATE_FILTER, GATEWAY_STATE_SUBCLASS, TrunkEvent
from bizpbx.controller.trunks import Trunks
from bizpbx.controller.webhooks import Delivery, lease_seconds
from bizpbx.esl.aio import InboundClient
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
        self._node = cluster.node if cluster else ""
        db = self._cluster_db
        self.active_calls = ActiveCalls(db, self._node) if db else None
        rater = Rater(site)
        self.accounting = Accounting(
            rater,
            self.ledger,
            self.outbox,
            self.metrics,
            site,
            file_lease=(lambda name: Lease(db, name, self._node, CDR_LEASE_SECONDS)) if db else None,
            hung_up=lambda uuid: self.handler.hung_up(uuid),  # an answered call's socket is let go: its end comes this way
        )
        self.deliveries = [self.delivery(name, hook) for name, hook in site.controller.webhooks.items()]
        self.metrics.watch_webhooks(lambda: self.deliveries)
        self.trunks = Trunks(site.trunks, self.outbox, self.emit)
        self.metrics.watch_trunks(self.trunks.watch.states)
        self.handler = CallHandler(site, rater, self.ledger.spend, self.metrics, self.emit, self.active_calls)
        self.command_sockets = self.command_sockets_for(site)
        self.parked = ParkedCalls(self.handler, lambda call_uuid: self.command_sockets.of(call_uuid), self.metrics.parked_calls_missed.inc)
        self.stranded = StrandedCalls(time.time(), lambda: self.handler.active.keys(), self.parked.lost, lambda: fs.park_contexts(self.site.organizations))
        self.inbound = self.event_socket(site)
        self.http = HttpServer(self.http_endpoints(site))
        self.tasks: dict[str, asyncio.Task] = {}
        self.reloads = SiteReload(self)
        self._flush_due = False
        self._emitted: list[tuple[str, str, str, dict]] = []  # events of calls in progress and trunks, not yet in the outbox

    def delivery(self, name: str, hook) -> Delivery:
        """The delivery loop of webhook `name` (under a lease with controllers on several nodes)."""
        db = self._cluster_db
        return Delivery(name, hook, self.outbox, metrics=self.metrics, lease=Lease(db, f"webhook:{name}", self._node, lease_seconds(hook)) if db else None)

    def event_socket(self, site: Site) -> InboundClient:
        """The event socket: the calls parked for the controller and their events, the callers'
        hang-ups (the call legs: EVENT_FILTERS), the gateways' reports."""
        return InboundClient(
            str(site.esl.host),
            site.esl.port,
            site.esl.password.get_secret_value(),
            events=[*parked_calls.SUBSCRIBED_EVENTS, *SUBSCRIBED_EVENTS],
            custom=[GATEWAY_STATE_SUBCLASS],
            # A switch-side filter drops the events without its header: the reports pass by one of their own.
            filters=[*EVENT_FILTERS, GATEWAY_STATE_FILTER, *parked_calls.EVENT_FILTERS],
            api_on_connect=parked_calls.PRESENT,  # parked calls wait for the controller from then on
            on_event=self._on_event,
            retry_refusals=True,
        )

    @staticmethod
    def command_sockets_for(site: Site) -> CommandSockets:
        """The connections the calls' commands go on (`parked_calls`)."""
        password = site.esl.password.get_secret_value()

        def connection() -> InboundClient:
            return InboundClient(str(site.esl.host), site.esl.port, password, retry_refusals=True)

        return CommandSockets([connection() for _ in range(COMMAND_SOCKETS)], connection())

    def http_endpoints(self, site: Site) -> list:
        """What the HTTP listener serves for `site`: the click-to-call API when the site names
        clients for it, the recordings when recordings.http is set."""
        endpoints: list = [CallApiEndpoint(site, self.handler, self.inbound, self.ledger.has)] if site.controller.api.clients else []
        if site.recordings.http is not None:
            endpoints.append(RecordingsEndpoint(site))
        return endpoints

    def emit(self, event: CallEvent | TrunkEvent) -> None:
        self._emitted.append(event.as_row())
        self._flush_soon()

    def _wake_deliveries(self) -> None:
        for delivery in self.deliveries:
            delivery.wake.set()

    def _on_event(self, event: Event) -> None:
        if not self.trunks.on_event(event):
            self.parked.on_event(event)
            self.accounting.hold(event)
        self._flush_soon()

    def _flush_soon(self) -> None:
        # What the calls emitted and the hang-ups read in one turn of the loop are stored together
        # once it is over (a transaction for them all, not one each).
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Into the ledger, in one transaction: the calls' events emitted so far, then the hang-ups
        held (rated and stored): a call's call.ended comes after its call.started."""
        self._flush_due = False
        emitted, self._emitted = self._emitted, []
        if self.accounting.flush(emitted) or emitted:
            self._wake_deliveries()

    def start(self, name: str, work) -> None:
        """Run `work` (a coroutine) as the task `name`; stopped with the controller."""
        self.tasks[name] = asyncio.create_task(work, name=name)

    async def run(self, stop: asyncio.Event) -> None:
        new = self.accounting.catch_up(self.cdr_dir)
        log.info("CDR files read on start: %d call(s) new to the ledger", new)
        metrics_listen = self.site.controller.metrics
        metrics_server = await _listen(
            "controller.metrics", str(metrics_listen.host), metrics_listen.port, lambda: serve_metrics(self.metrics, str(metrics_listen.host), metrics_listen.port)
        )
        http_server = await self._start_http(metrics_server)
        for delivery in self.deliveries:
            self.start(f"webhook {delivery.name}", delivery.run())
        self.start_event_socket()
        self.start("CDR sweep", self._sweep())
        self.start("recordings retention", self._recordings_retention())
        if self.active_calls is not None:
            self.start("heartbeat", self._heartbeat(self.active_calls))
        self.metrics.up.set(1)
        log.info("controller running: calls parked on the event socket %s:%s, metrics %s:%s", self.site.esl.host, self.site.esl.port, metrics_listen.host, metrics_listen.port)
        await stop.wait()
        if http_server is not None:
            http_server.close()
        await self._shut_down(metrics_server)

    def start_event_socket(self) -> None:
        self.start("event socket", self._keep_connected(self.inbound, "call events flow"))
        for number, client in enumerate(self.command_sockets.clients):
            self.start(f"command socket {number}", self._keep_connected(client, "calls' commands go"))
        self.start("command socket housekeeping", self._keep_connected(self.command_sockets.housekeeping, "the stranded calls are looked for"))
        self.start("parked calls", self.parked.follow(self.inbound))
        self.start("trunks", self.trunks.follow(self.inbound))
        self.start("stranded calls", self.stranded.follow(self.inbound, self.command_sockets.housekeeping))

    async def _start_http(self, metrics_server: asyncio.Server) -> asyncio.Server | None:
        """The HTTP listener, when the site has something for it to serve (taken at start: see SiteReload)."""
        api = self.site.controller.api
        if not self.http.endpoints:
            return None
        try:
            return await _listen("controller.api", str(api.host), api.port, lambda: self.http.serve(str(api.host), api.port))
        except StartupError:
            metrics_server.close()
            raise

    async def _keep_connected(self, inbound: InboundClient, what: str) -> None:
        for delay in backoff_delays(0.5, 30.0):
            try:
                await inbound.connect()
                log.info("event socket %s:%s: connected, %s", inbound.host, inbound.port, what)
                return
            except (AuthenticationError, ConnectionRejected) as error:
                inbound.refusals += 1
                log.error("event socket: %s; again in %.1f s (runtime rating rests on the CDR files meanwhile)", error, delay)
            except (OSError, EslError) as error:
                log.warning("event socket %s:%s: %s; again in %.1f s", inbound.host, inbound.port, error, delay)
            await asyncio.sleep(delay)

    async def _sweep(self) -> None:
        """Every few seconds, and so soon after a reconnection, read what the CDR files added."""
        seen, counted = 0, self.inbound
        while True:
            await asyncio.sleep(CDR_SWEEP_SECONDS)
            inbound = self.inbound
            if inbound is not counted:  # a reload connected anew with other event socket settings
                seen, counted = 0, inbound
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
        self._flush()  # hang-ups already received are rated from their events, not their CDRs
        # Calls just ended are left to their hang-up events while those flow (not when stopping).
        grace = EVENT_GRACE_SECONDS if self.inbound.connected and not self.handler.draining else 0
        new = self.accounting.catch_up(self.cdr_dir, grace_seconds=grace)
        if new:
            log.info("CDR files: %d call(s) the event socket had not delivered", new)
            self._wake_deliveries()
        return new

    async def _shut_down(self, metrics_server: asyncio.Server) -> None:
        self.handler.draining = True  # a call parked from now on goes to the fallback
        await self.parked.stop_parking(self.inbound)  # and the switch sends it there without waiting
        # An answered call let go is the switch's alone: the stop does not wait for its end (rated
        # from its CDR, if it ends while the controller is down).
        routing = len(self._routing())
        log.info("stopping: %d call(s) being routed get up to %.0f s; %d answered go on in the switch", routing, self.grace_seconds, len(self.handler.active) - routing)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_seconds
        while self._routing() and loop.time() < deadline:
            await asyncio.sleep(0.1)
        if left := self._routing():
            log.warning("grace period over: %d call(s) left to the dialplan's fallback", len(left))
        await self.parked.close()  # the calls still being routed go to the fallback
        await self.command_sockets.close()
        for state in self.handler.active.values():
            state.hung_up.set()  # followed no longer: the end of a call let go would come by the event socket, closed next
        await self.inbound.close()
        self.sweep_once()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained(), FLUSH_SECONDS)
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        metrics_server.close()
        await metrics_server.wait_closed()
        if self._cluster_db is not None:
            for delivery in self.deliveries:
                delivery.release_lease()  # another node takes over at once, not when it lapses
            self._cluster_db.close()
        self.outbox.close()
        self.ledger.close()
        log.info("controller stopped")

    def _routing(self) -> list:
        """The calls the controller is still routing (not yet answered and let go)."""
        return [state for state in self.handler.active.values() if not state.let_go]

    async def _drained(self) -> None:
        while any(d.pending() for d in self.deliveries):
            await asyncio.sleep(0.1)


def run_until_signalled(site: Site, site_path: Path) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the site from `site_path`."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        controller = Controller(site)
        loop.add_signal_handler(signal.SIGHUP, controller.reloads.request, site_path)
        await controller.run(stop)

    asyncio.run(main())


def _retention_pass(site: Site) -> int:
    """One retention pass, in a thread of its own (with its own connection: SQLite's are per thread)."""
    with Ledger(site.controller.ledger_database) as ledger:
        return clean_up(site, ledger, time.time())
