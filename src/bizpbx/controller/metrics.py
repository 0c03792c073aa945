"""The controller's metrics in Prometheus' text format, served on loopback.

A handful of counters, gauges and one histogram, kept in memory; the
endpoint is a few lines of asyncio (GET /metrics), no client library.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Iterable
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Routing takes well under a millisecond; the buckets resolve that range.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)


class Counter:
    kind = "counter"

    def __init__(self, name: str, help_text: str, read: Callable[[], int] | None = None) -> None:
        self.name, self.help = name, help_text
        self.value = 0
        self._read = read

    def inc(self, amount: int = 1) -> None:
        self.value += amount

    def samples(self) -> list[str]:
        return [f"{self.name} {self._read() if self._read else self.value}"]


class Gauge:
    kind = "gauge"

    def __init__(self, name: str, help_text: str, read: Callable[[], float] | None = None) -> None:
        self.name, self.help = name, help_text
        self.value = 0
        self.labels: dict[str, str] = {}
        self._read = read

    def set(self, value: float, **labels: str) -> None:
        self.value = value
        self.labels = labels

    def samples(self) -> list[str]:
        labels = ",".join(f'{key}="{_escape_label(value)}"' for key, value in self.labels.items())
        return [f"{self.name}{'{' + labels + '}' if labels else ''} {self._read() if self._read else self.value}"]


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Histogram:
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help = name, help_text
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    def samples(self) -> list[str]:
        lines, running = [], 0
        for bound, count in zip((*map(repr, self.buckets), "+Inf"), self.counts):
            running += count
            lines.append(f'{self.name}_bucket{{le="{bound}"}} {running}')
        return [*lines, f"{self.name}_sum {self.sum}", f"{self.name}_count {running}"]


class PerWebhook(Gauge):
    """A gauge per webhook, labelled ``webhook="NAME"``, read from the delivery loops when scraped."""

    def __init__(self, name: str, help_text: str, deliveries: Callable[[], Iterable[Any]], read: Callable[[Any], float], kind: str = "gauge") -> None:
        super().__init__(name, help_text)
        self._deliveries, self._read_one, self.kind = deliveries, read, kind

    def samples(self) -> list[str]:
        # Webhook names are lower-case letters, digits and _: nothing to escape.
        return [f'{self.name}{{webhook="{d.name}"}} {self._read_one(d)}' for d in self._deliveries()]


class LabelledCounter:
    """A counter per combination of label values (`inc(trunk="carrier", cause="USER_BUSY")`)."""

    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[tuple[tuple[str, str], ...], int] = {}

    def inc(self, amount: int = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0) + amount

    def samples(self) -> list[str]:
        return [f"{self.name}{{{_labels(dict(key))}}} {value}" for key, value in sorted(self.values.items())]


class PerTrunk(Gauge):
    """A gauge per trunk, read from the trunks' states (`bizpbx.controller.trunk_state`) when scraped."""

    def __init__(self, name: str, help_text: str, states: Callable[[], dict[str, Any]], read: Callable[[str, Any], tuple[dict[str, str], float]]) -> None:
        super().__init__(name, help_text)
        self._states, self._read_one = states, read

    def samples(self) -> list[str]:
        lines = []
        for trunk, state in sorted(self._states().items()):
            labels, value = self._read_one(trunk, state)
            lines.append(f"{self.name}{{{_labels(labels)}}} {value}")
        return lines


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f'{key}="{_escape_label(value)}"' for key, value in labels.items())


class Metrics:
    def __init__(
        self,
        outbox_depth: Callable[[], float] | None = None,
        esl_connected: Callable[[], float] | None = None,
        esl_refusals: Callable[[], int] | None = None,
    ) -> None:
        self.active_calls = Gauge("bizpbx_active_calls", "Calls the controller is handling on the outbound socket")
        self.calls_total = Counter("bizpbx_calls_total", "Calls started (rate() of it: calls per second)")
        self.routing_seconds = Histogram("bizpbx_routing_seconds", "Time to plan a call (route and its continuations)")
        self.esl_reconnects = Counter("bizpbx_esl_reconnects_total", "Reconnections of the inbound event socket")
        self.esl_refusals = Counter("bizpbx_esl_refusals_total", "Connections the event socket refused (password or ACL); retried with backoff", esl_refusals)
        self.esl_connected = Gauge("bizpbx_esl_connected", "1 while subscribed on the inbound event socket (calls start unseen while 0)", esl_connected)
        self.rating_errors = Counter("bizpbx_rating_errors_total", "Finished calls that could not be rated")
        self.never_routed = Counter("bizpbx_cdr_never_routed_total", "CDRs of calls the switch refused before its dialplan (nothing to rate)")
        self.cdr_readable = Gauge("bizpbx_cdr_readable", "1 while the switch's CDR files can be read (bizpbx status says why not)")
        self.refused_calls = Counter("bizpbx_guard_refusals_total", "Outbound legs refused by the toll-fraud guard")
        self.outbox_depth = Gauge("bizpbx_outbox_depth", "Call events not yet delivered to every webhook", outbox_depth)
        self.up = Gauge("bizpbx_up", "1 while the controller runs")
        self.trunk_call_failures = LabelledCounter("bizpbx_trunk_call_failures_total", "Outbound legs on a trunk that failed, by hang-up cause")
        self.site_reloads = Counter("bizpbx_site_reloads_total", "Sites reloaded on SIGHUP (systemctl reload)")
        self.site_reload_failures = Counter("bizpbx_site_reload_failures_total", "Reloads refused (an invalid site: the one running is kept)")
        self.restart_needed = Gauge("bizpbx_restart_needed", "1 when a reloaded site changed settings that apply only on restart (label settings)")

    def all(self) -> list[Counter | Gauge | Histogram | LabelledCounter]:
        return [value for value in vars(self).values() if isinstance(value, (Counter, Gauge, Histogram, LabelledCounter))]

    def render(self) -> str:
        lines = []
        for metric in self.all():
            lines += [f"# HELP {metric.name} {metric.help}", f"# TYPE {metric.name} {metric.kind}", *metric.samples()]
        return "\n".join(lines) + "\n"

    def watch_webhooks(self, deliveries: Callable[[], Iterable[Any]]) -> None:
        """Gauges of the webhooks' delivery loops (`bizpbx.controller.webhooks.Delivery`), per webhook."""
        self.webhook_consecutive_failures = PerWebhook(
            "bizpbx_webhook_consecutive_failures", "Failed delivery attempts in a row, 0 after a 2xx (failing from 5 on)", deliveries, lambda d: d.consecutive_failures
        )
        self.webhook_last_success = PerWebhook(
            "bizpbx_webhook_last_success_timestamp_seconds", "When the webhook last answered 2xx (Unix time, 0 if never)", deliveries, lambda d: d.last_success_at or 0
        )
        self.webhook_dead_letters = PerWebhook("bizpbx_webhook_dead_letters", "Events set aside for the webhook (bizpbx events dead)", deliveries, lambda d: d.dead_letters())
        self.webhook_restarts = PerWebhook("bizpbx_webhook_loop_restarts_total", "Delivery loops started again after an error of their own", deliveries, lambda d: d.restarts, "counter")


    def watch_trunks(self, states: Callable[[], dict[str, Any]]) -> None:
        """Gauges of the trunks' states (`bizpbx.controller.trunk_state.TrunkState`), per trunk."""
        self.trunk_up = PerTrunk(
            "bizpbx_trunk_up", "1 while the trunk is registered (or does not register: auth ip)", states, lambda t, s: ({"trunk": t}, int(s.status == "up"))
        )
        self.trunk_registration = PerTrunk(
            "bizpbx_trunk_state",
            "The trunk's state (label state: up, failing, down, unknown; registration: FreeSWITCH's; reason when not up), always 1",
            states,
            lambda t, s: ({"trunk": t, "state": s.status, "registration": s.registration, "reason": s.reason or ""}, 1),
        )


async def serve_metrics(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if request.startswith(b"GET ") and path == b"/metrics":
                status, body = "200 OK", metrics.render().encode()
            else:
                status, body = "404 Not Found", b"only GET /metrics here\n"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port)
