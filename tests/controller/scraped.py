"""Scraping the controller's metrics over HTTP as Prometheus does, parsed by
prometheus-client's own parsers (the classic text format and OpenMetrics)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from bizpbx.controller.metrics import Metrics, serve_metrics

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@dataclass
class Scrape:
    content_type: str
    body: str
    families: dict[str, Metric]

    def value(self, sample_name: str, **labels: str) -> float | None:
        """The value of the sample with exactly these labels, None if there is none."""
        for family in self.families.values():
            for sample in family.samples:
                if sample.name == sample_name and sample.labels == labels:
                    return sample.value
        return None

    def labels(self, sample_name: str) -> list[dict[str, str]]:
        return [sample.labels for family in self.families.values() for sample in family.samples if sample.name == sample_name]


async def scrape(port: int, host: str = "127.0.0.1", accept: str | None = None) -> Scrape:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n" + (f"Accept: {accept}\r\n".encode() if accept else b"") + b"\r\n")
    response = await reader.read()
    writer.close()
    head, _, body = response.decode().partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    assert status_line == "HTTP/1.1 200 OK", status_line
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    assert int(headers["content-length"]) == len(body.encode())
    parse = openmetrics_families if accept == OPENMETRICS else text_string_to_metric_families
    return Scrape(headers["content-type"], body, {family.name: family for family in parse(body)})


@contextlib.asynccontextmanager
async def serving(metrics: Metrics) -> AsyncIterator[Callable[[], Awaitable[Scrape]]]:
    """The metrics on a free loopback port, as the controller serves them; yields a scraper."""
    server = await serve_metrics(metrics, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield lambda: scrape(port)
    finally:
        server.close()
        await server.wait_closed()
