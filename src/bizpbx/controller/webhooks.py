"""Delivering call events to webhooks: signed, in order, retried until acknowledged.

Each webhook has one delivery loop that walks the outbox in id order from
its cursor. An event is posted until the webhook answers 2xx (capped
exponential backoff between attempts); only then does the cursor move, so
events reach a webhook in order (per call and overall) and none is lost
while it is down or the controller restarts. A crash between a 2xx and the
cursor update delivers that one event again: consumers deduplicate by its
``id`` (also in the ``X-Bizpbx-Event-Id`` header).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import ssl
from urllib.parse import urlsplit

from bizpbx.controller.outbox import Outbox, StoredEvent
from bizpbx.esl.inbound import backoff_delays
from bizpbx.settings import Webhook

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Bizpbx-Signature"
IDLE_POLL_SECONDS = 1.0


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class DeliveryFailed(Exception):
    """One attempt did not get a 2xx (the message says what happened instead)."""


async def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST `body`; return the HTTP status. Raises DeliveryFailed on a network error or timeout."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=ssl.create_default_context() if secure else None)
            try:
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError) as error:
        raise DeliveryFailed(f"{parts.netloc}: {error.__class__.__name__}: {error}") from None
    fields = status_line.split(b" ", 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise DeliveryFailed(f"{parts.netloc}: not an HTTP response: {status_line[:80]!r}")
    return int(fields[1])


class Delivery:
    """The delivery loop of one webhook."""

    def __init__(self, name: str, webhook: Webhook, outbox: Outbox, *, backoff: tuple[float, float] = (0.5, 30.0)) -> None:
        self.name = name
        self._webhook = webhook
        self._outbox = outbox
        self._backoff = backoff
        self.wake = asyncio.Event()  # set when new events are stored

    def pending(self) -> list[StoredEvent]:
        return self._outbox.after(self._outbox.cursor(self.name))

    async def run(self) -> None:
        while True:
            batch = self.pending()
            if not batch:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), IDLE_POLL_SECONDS)
                except TimeoutError:
                    pass
                continue
            for event in batch:
                if event.name in self._webhook.events:
                    await self._deliver(event)
                self._outbox.acknowledge(self.name, event.id)

    async def _deliver(self, event: StoredEvent) -> None:
        body = event.body.encode()
        headers = {
            SIGNATURE_HEADER: signature(self._webhook.secret.get_secret_value(), body),
            "X-Bizpbx-Event": event.name,
            "X-Bizpbx-Event-Id": event.data["id"],
        }
        for attempt, delay in enumerate(backoff_delays(*self._backoff), start=1):
            try:
                status = await post(self._webhook.url, body, headers, self._webhook.timeout_seconds)
                if 200 <= status < 300:
                    return
                problem = f"HTTP {status}"
            except DeliveryFailed as error:
                problem = str(error)
            log.warning(
                "webhook %s: event %s not delivered (attempt %d: %s); again in %.1f s",
                self.name, event.data["id"], attempt, problem, delay,
                extra={"call_uuid": event.call_uuid},
            )
            await asyncio.sleep(delay)
