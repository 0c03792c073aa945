"""The controller's metrics for Prometheus (prometheus-client), served from
the controller's own asyncio listener.

Every metric is declared in `Metrics.__init__`, on a registry of the
controller's own (never the library's global one, so two controllers in one
process, as in the tests, count apart); add a new metric there. Values that
live elsewhere (the event socket client, the webhooks' delivery loops, the
trunks' states) are
read when Prometheus scrapes, by `ReadWhenScraped`. The exposition is made by
the library (`generate_latest` or OpenMetrics, as the scraper's Accept
header asks) on the event loop: a scrape takes about a millisecond, so no
thread is needed and none can block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from bizpbx.rating.rate import CallRecord, Rating

# From the call reaching the controller to its first step: routing is well under a millisecond,
# the two `set` round trips to the switch about one each; under load the event loop queues calls.
ROUTING_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# From a hang-up to its rating: milliseconds when the consumer keeps up; past the CDR sweep's
# 5 s the sweep rates calls before their events do.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# One POST to a webhook: a LAN CRM answers in milliseconds, a remote one in tenths of a second;
# an attempt may last 3 × timeout_seconds (15 s by default, 180 s at most).
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 180.0)
MAX_REQUEST_HEAD = 8192


class ReadWhenScraped(Collector):
    """A metric whose samples (labels, value) are read from elsewhere at each scrape."""

    def __init__(self, name: str, documentation: str, kind: str, read: Callable[[], Iterable[tuple[tuple[str, ...], float]]], labels: tuple[str, ...] = ()) -> None:
        self._family = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily}[kind]
        self._name, self._documentation, self._labels, self._read = name, documentation, labels, read

    def _empty(self) -> Metric:
        return self._family(self._name, self._documentation, labels=self._labels)

    def describe(self) -> list[Metric]:
        return [self._empty()]  # lets the registry refuse a name declared twice

    def collect(self) -> Iterator[Metric]:
        family = self._empty()
        for label_values, value in self._read():
            family.add_metric(list(label_values), value)
        yield family


class Metrics:
    """The controller's metrics; `registry` is what is served."""

    def __init__(
        self,
        outbox_depth: Callable[[], float] | None = None,
        esl_connected: Callable[[], float] | None = None,
        esl_refusals: Callable[[], int] | None = None,
    ) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self.up = Gauge("bizpbx_up", "1 while the controller runs", registry=registry)
        # Calls
        self.active_calls = Gauge("bizpbx_active_calls", "Calls the controller is handling", registry=registry)
        self.calls_total = Counter("bizpbx_calls_total", "Calls handed to the controller, by direction (rate() of it: calls per second)", ["direction"], registry=registry)
        self.parked_calls_missed = Counter(
            "bizpbx_parked_calls_missed_total", "Calls parked for the controller that the dialplan's fallback took first (the controller down, or behind by seconds)", registry=registry
        )
        self.routing_seconds = Histogram(
            "bizpbx_routing_seconds", "From a call reaching the controller to its first step executed (routing and the switch's replies)", buckets=ROUTING_BUCKETS, registry=registry
        )
        self.refused_calls = Counter("bizpbx_guard_refusals_total", "Outbound legs refused by the toll-fraud guard, by organization and rule", ["organization", "rule"], registry=registry)
        self.calls_rated = Counter(
            "bizpbx_calls_rated_total", "Calls stored in the ledger (each once), by organization, direction and rating outcome", ["organization", "direction", "outcome"], registry=registry
        )
        self.hangups = Counter("bizpbx_hangups_total", "Calls stored in the ledger (each once), by direction, trunk (empty: none) and hang-up cause", ["direction", "trunk", "cause"], registry=registry)
        # Rating and the CDR files
        self.rating_errors = Counter("bizpbx_rating_errors_total", "Finished calls that could not be rated", registry=registry)
        self.recovered_from_cdr = Counter(
            "bizpbx_calls_recovered_from_cdr_total", "Calls stored from the CDR sweep, their hang-up never seen on the event socket (controller down, socket lost, consumer behind)", registry=registry
        )
        self.event_lag = Histogram(
            "bizpbx_event_lag_seconds", "From a call's hang-up (the switch's event time) to its rating and storing by the event consumer", buckets=LAG_BUCKETS, registry=registry
        )
        self.event_consumer_behind = Gauge(
            "bizpbx_event_consumer_behind", "1 while the last hang-ups were rated over 2 s after they happened (the CDR sweep may rate calls first)", registry=registry
        )
        self.never_routed = Counter("bizpbx_cdr_never_routed_total", "CDRs of calls the switch refused before its dialplan (nothing to rate)", registry=registry)
        self.cdr_readable = Gauge("bizpbx_cdr_readable", "1 while the switch's CDR files can be read; 0 with the reason as `problem`", ["problem"], registry=registry)
        # The event socket
        self.esl_reconnects = Counter("bizpbx_esl_reconnects_total", "Reconnections of the inbound event socket", registry=registry)
        self.esl_connected = Gauge("bizpbx_esl_connected", "1 while subscribed on the inbound event socket (calls start unseen while 0)", registry=registry)
        if esl_connected is not None:
            self.esl_connected.set_function(esl_connected)
        if esl_refusals is not None:
            registry.register(
                ReadWhenScraped("bizpbx_esl_refusals", "Connections the event socket refused (password or ACL); retried with backoff", "counter", lambda: [((), esl_refusals())])
            )
        # The webhooks
        self.outbox_depth = Gauge("bizpbx_outbox_depth", "Call events not yet delivered to every webhook", registry=registry)
        if outbox_depth is not None:
            self.outbox_depth.set_function(outbox_depth)
        self.webhook_seconds = Histogram(
            "bizpbx_webhook_delivery_seconds", "One delivery attempt (the POST and its redirects), by webhook and outcome", ["webhook", "outcome"], buckets=WEBHOOK_BUCKETS, registry=registry
        )
        # The trunks (their states: watch_trunks)
        self.trunk_call_failures = Counter("bizpbx_trunk_call_failures_total", "Outbound legs on a trunk that failed, by trunk and hang-up cause", ["trunk", "cause"], registry=registry)
        # Reloading the site (SIGHUP)
        self.site_reloads = Counter("bizpbx_site_reloads_total", "Sites reloaded on SIGHUP (systemctl reload)", registry=registry)
        self.site_reload_failures = Counter("bizpbx_site_reload_failures_total", "Reloads refused (an invalid site: the one running is kept)", registry=registry)
        self.restart_needed = Gauge(
            "bizpbx_restart_needed", "1 when a reloaded site changed settings that apply only on restart (named in `settings`), else 0", ["settings"], registry=registry
        )
        self.restart_needed.labels(settings="").set(0)

    def watch_webhooks(self, deliveries: Callable[[], Iterable[Any]]) -> None:
        """Per webhook, what its delivery loop (`bizpbx.controller.webhooks.Delivery`) knows."""
        for name, documentation, kind, read in (
            ("bizpbx_webhook_consecutive_failures", "Failed delivery attempts in a row, 0 after a 2xx (failing from 5 on)", "gauge", lambda d: d.consecutive_failures),
            ("bizpbx_webhook_last_success_timestamp_seconds", "When the webhook last answered 2xx (Unix time, 0 if never)", "gauge", lambda d: d.last_success_at or 0),
            ("bizpbx_webhook_dead_letters", "Events set aside for the webhook (bizpbx events dead)", "gauge", lambda d: d.dead_letters()),
            ("bizpbx_webhook_loop_restarts", "Delivery loops started again after an error of their own", "counter", lambda d: d.restarts),
        ):
            self.registry.register(ReadWhenScraped(name, documentation, kind, lambda read=read: [((d.name,), read(d)) for d in deliveries()], ("webhook",)))

    def watch_trunks(self, states: Callable[[], dict[str, Any]]) -> None:
        """Per trunk, its state (`bizpbx.controller.trunk_state.TrunkState`) as the controller knows it."""
        self.registry.register(
            ReadWhenScraped(
                "bizpbx_trunk_up",
                "1 while the trunk is registered (or does not register: auth by address), else 0",
                "gauge",
                lambda: [((trunk,), int(state.status == "up")) for trunk, state in sorted(states().items())],
                ("trunk",),
            )
        )
        self.registry.register(
            ReadWhenScraped(
                "bizpbx_trunk_state",
                "Always 1: the trunk's state (up, failing, down, unknown), FreeSWITCH's registration state, and the reason when not up",
                "gauge",
                lambda: [((trunk, state.status, state.registration, state.reason or ""), 1) for trunk, state in sorted(states().items())],
                ("trunk", "state", "registration", "reason"),
            )
        )

    # --- what the controller's parts report -----------------------------------------

    def call_started(self, direction: str) -> None:
        self.calls_total.labels(direction=direction or "unknown").inc()

    def call_stored(self, record: CallRecord, rating: Rating, *, from_cdr: bool = False) -> None:
        """A call new to the ledger (`from_cdr`: through the CDR sweep, not its hang-up event)."""
        if from_cdr:
            self.recovered_from_cdr.inc()
        direction = str(record.direction)
        self.calls_rated.labels(organization=record.organization, direction=direction, outcome=str(rating.outcome)).inc()
        self.hangups.labels(direction=direction, trunk=record.trunk, cause=record.hangup_cause or "unknown").inc()

    def cdr_problem(self, problem: str | None) -> None:
        """Whether the CDR files can be read: one sample, 1, or 0 with why not."""
        self.cdr_readable.clear()
        self.cdr_readable.labels(problem=problem or "").set(0 if problem else 1)

    def trunk_call_failed(self, trunk: str, cause: str) -> None:
        self.trunk_call_failures.labels(trunk=trunk, cause=cause).inc()

    def restart_needed_for(self, settings: list[str]) -> None:
        """After a reload: one sample, 1 naming the settings that wait for a restart, or 0."""
        self.restart_needed.clear()
        self.restart_needed.labels(settings=",".join(settings)).set(int(bool(settings)))

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics in the format the scraper's Accept header asks for, and its content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


async def serve_metrics(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    """GET /metrics on host:port (HTTP/1.1, one request a connection)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            parts = request_line.split(" ")
            content_type = "text/plain; charset=utf-8"
            if len(parts) == 3 and parts[0] == "GET" and parts[1].partition("?")[0] == "/metrics":
                accept = next((line.partition(":")[2].strip() for line in header_lines if line.lower().startswith("accept:")), "")
                status, (body, content_type) = "200 OK", metrics.exposition(accept)
            else:
                status, body = "404 Not Found", b"only GET /metrics here\n"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port, limit=MAX_REQUEST_HEAD)
