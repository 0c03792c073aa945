"""Delivering call events to webhooks: signed, in order, retried, never stuck.

Each webhook has one delivery loop that walks the outbox in id order from
its cursor and POSTs every event its `events` patterns select, over httpx:

- connect, each read and each write within the webhook's `timeout_seconds`,
  a whole attempt (redirects included) within `ATTEMPT_TIMEOUTS` times that;
- a redirect (301, 302, 303, 307, 308) is followed at most `MAX_REDIRECTS`
  times by POSTing the same body and signature to the new location; never
  from https to http; the Basic credentials only within the URL's origin;
- TLS verified against the system's CAs, or only those of the webhook's
  `ca_file`; no proxy or netrc from the environment;
- credentials in the URL (``https://user:password@host/``) are sent as HTTP
  Basic auth, never in the URL or the Host header; logs name the webhook
  and its origin (scheme, host, port) only, never a path, query or password.

An attempt ends one of three ways. A 2xx delivers the event: the cursor
moves. A 4xx other than 408, 425 and 429 is the webhook refusing this event
for good: it is set aside as a dead letter at once. Anything else (no
connection, a reset, a timeout, a reply that is not HTTP, a status line
over 64 KiB, a 5xx, 408, 425, 429, too many redirects) is retried after a
capped exponential backoff (or the reply's Retry-After, within the cap)
until the event has been failing for `dead_letter_after_seconds`, when it is
set aside too. Events after a dead letter flow on; per webhook, the events
that are not dead letters arrive in order. Dead letters queued again by
``bizpbx events retry`` are delivered before newer events.

Every failed attempt is logged at INFO; a WARNING says once that a webhook
crossed `FAILING_AFTER` failed attempts in a row, another when it delivers
again. The loop never dies on an error of its own either: it logs the
traceback and starts again after a backoff. A crash between a 2xx and the
cursor update delivers that one event again: consumers deduplicate by its
``id`` (also in the ``X-Bizpbx-Event-Id`` header).

Controllers on several nodes sharing a PostgreSQL ledger each run the loop,
but only the holder of the webhook's lease (`bizpbx.ledger.cluster.Lease`)
delivers: it renews the lease before every attempt, for longer than an
attempt and the backoff after it take (`lease_seconds`), so the lease cannot
lapse while an attempt is under way and no event is sent by two nodes; a
node that finds the lease held by another waits, and takes it over once it
lapses (its holder stopped or died), from the cursor in the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from fnmatch import fnmatchcase

import httpx

from bizpbx import __version__
from bizpbx.backoff import backoff_delays
from bizpbx.controller.metrics import Metrics
from bizpbx.controller.outbox import Outbox, StoredEvent
from bizpbx.ledger.cluster import Lease
from bizpbx.settings import Webhook

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Bizpbx-Signature"
TIMESTAMP_HEADER = "X-Bizpbx-Timestamp"
USER_AGENT = f"bizpbx/{__version__}"
IDLE_POLL_SECONDS = 1.0
MAX_REDIRECTS = 5
ATTEMPT_TIMEOUTS = 3  # a whole attempt, redirects included, gets this many timeout_seconds
REDIRECTS = frozenset({301, 302, 303, 307, 308})
RETRIED_CLIENT_ERRORS = frozenset({408, 425, 429})  # 4xx that say "later", not "never"
FAILING_AFTER = 5  # failed attempts in a row before a webhook is reported failing
PROBLEM_CHARS = 300  # a failure's description is cut to this length
MAX_STATUS_LINE = 64 * 1024  # a longer status line is no answer (httpx takes up to 100 KiB of head)
BACKOFF = (0.5, 30.0)  # seconds: the first wait after a failed attempt, and the longest
LEASE_MARGIN_SECONDS = 10.0


def lease_seconds(webhook: Webhook, backoff: tuple[float, float] = BACKOFF) -> float:
    """How long a delivery lease lasts: an attempt, the wait after it, and a margin for the database's round trips."""
    return webhook.timeout_seconds * ATTEMPT_TIMEOUTS + backoff[1] + LEASE_MARGIN_SECONDS


class LeaseLost(Exception):
    """Another node holds the webhook's lease now."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` under the webhook's secret."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def selects(patterns: Iterable[str], event_name: str) -> bool:
    """Does a webhook's `events` list (names, `*` wildcards) select this event?"""
    return any(fnmatchcase(event_name, pattern) for pattern in patterns)


@dataclass(frozen=True)
class WebhookAddress:
    """A webhook URL split into what is sent, what is sent as Basic auth and what may be logged."""

    url: httpx.URL  # without credentials
    auth: httpx.BasicAuth | None
    origin: str  # scheme://host:port, all that logs show of the URL
    secrets: tuple[str, ...]  # text no log line may contain

    @classmethod
    def parse(cls, url: str) -> WebhookAddress:
        parsed = httpx.URL(url)
        bare = parsed.copy_with(username=None, password=None)
        auth = httpx.BasicAuth(parsed.username, parsed.password) if parsed.userinfo else None
        raw_userinfo = parsed.userinfo.decode("ascii", "replace")
        raw_password = raw_userinfo.partition(":")[2]
        secrets = tuple(s for s in {raw_userinfo, raw_password, parsed.password, parsed.username, parsed.query.decode("ascii", "replace")} if len(s) >= 3)
        return cls(bare, auth, origin_of(bare), tuple(sorted(secrets, key=len, reverse=True)))

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def origin_of(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}:{url.port or (443 if url.scheme == 'https' else 80)}"


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return origin_of(a) == origin_of(b)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST (and its redirects) came to."""

    delivered: bool
    problem: str = ""  # for logs and the dead-letter list: without secrets
    permanent: bool = False  # the webhook refused this event for good
    retry_after: float | None = None


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() and len(value) < 8 else None


def ssl_context(webhook: Webhook) -> ssl.SSLContext:
    """The system's CAs, or only those of the webhook's ca_file; hostnames checked either way."""
    return ssl.create_default_context(cafile=str(webhook.ca_file) if webhook.ca_file else None)


class Delivery:
    """The delivery loop of one webhook."""

    def __init__(
        self, name: str, webhook: Webhook, outbox: Outbox, *, backoff: tuple[float, float] = BACKOFF, metrics: Metrics | None = None, lease: Lease | None = None
    ) -> None:
        self.name = name
        self._lease = lease  # with controllers on several nodes: only its holder delivers
        self._metrics = metrics
        self._webhook = webhook
        self._target = WebhookAddress.parse(webhook.url)
        self._outbox = outbox
        self._backoff = backoff
        self._client: httpx.AsyncClient | None = None
        self.wake = asyncio.Event()  # set when new events are stored
        health = outbox.health(name)
        self.consecutive_failures = health.consecutive_failures
        self.last_success_at = health.last_success_at
        self.restarts = 0  # times the loop failed on an error of its own and started again

    # --- what the metrics and the controller read ------------------------------

    def pending(self) -> list[StoredEvent]:
        """Events still to be delivered (or skipped by the filter): dead letters queued again, then the cursor's."""
        return self._outbox.requeued(self.name) + self._outbox.after(self._outbox.cursor(self.name))

    def dead_letters(self) -> int:
        return self._outbox.dead_count(self.name)

    @property
    def failing(self) -> bool:
        return self.consecutive_failures >= FAILING_AFTER

    # --- the loop -----------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until cancelled; an unexpected error is logged and the loop started again."""
        delays = backoff_delays(*self._backoff)
        try:
            while True:
                started = time.monotonic()
                try:
                    await self._loop()
                except Exception:
                    if time.monotonic() - started > 2 * self._backoff[1]:
                        delays = backoff_delays(*self._backoff)  # it had been running well: start the backoff over
                    delay = next(delays)
                    self.restarts += 1
                    log.exception("webhook %s: delivery loop failed; started again in %.1f s", self.name, delay)
                    await self._close_client()
                    await asyncio.sleep(delay)
        finally:
            await self._close_client()

    def release_lease(self) -> None:
        if self._lease is not None:
            self._lease.release()

    def _leased(self) -> bool:
        """Whether this loop may deliver now: alone, always; in a cluster, while it holds the lease (renewed here)."""
        return self._lease is None or self._lease.hold()

    async def _loop(self) -> None:
        while True:
            if not self._leased():
                await asyncio.sleep(IDLE_POLL_SECONDS)
                continue
            requeued = self._outbox.requeued(self.name, limit=1)
            batch = requeued or self._outbox.after(self._outbox.cursor(self.name))
            if not batch:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), IDLE_POLL_SECONDS)
                except TimeoutError:
                    pass
                continue
            try:
                for event in batch:
                    if requeued or selects(self._webhook.events, event.name):
                        await self._deliver(event)
                    else:
                        self._outbox.acknowledge(self.name, event.id)
                    if not requeued and self._outbox.requeued(self.name, limit=1):
                        break  # dead letters queued again go before newer events
            except LeaseLost:
                log.info("webhook %s: another node delivers now", self.name)

    async def _deliver(self, event: StoredEvent) -> None:
        """Attempt until the event is delivered or set aside."""
        body = event.body.encode()
        event_id = event.data.get("id", str(event.id))
        secret = self._webhook.secret.get_secret_value()
        first_failure: float | None = None
        for attempt_number, delay in enumerate(backoff_delays(*self._backoff), start=1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: signature(secret, timestamp, body),
                "X-Bizpbx-Event": event.name,
                "X-Bizpbx-Event-Id": event_id,
            }
            if not self._leased():
                raise LeaseLost
            sent = time.perf_counter()
            attempt = await self.attempt(body, headers)
            if self._metrics is not None:
                outcome = "delivered" if attempt.delivered else "refused" if attempt.permanent else "failed"
                self._metrics.webhook_seconds.labels(webhook=self.name, outcome=outcome).observe(time.perf_counter() - sent)
            now = int(time.time())
            if attempt.delivered:
                self._outbox.delivered(self.name, event.id, now)
                if self.failing:
                    log.warning("webhook %s: delivering again after %d failed attempts", self.name, self.consecutive_failures)
                self.consecutive_failures, self.last_success_at = 0, now
                return
            problem = self._target.redact(attempt.problem)[:PROBLEM_CHARS]
            was_failing = self.failing
            self.consecutive_failures = self._outbox.failed(self.name, now, problem)
            if self.failing and not was_failing:
                log.warning(
                    "webhook %s (%s) failing: %d attempts in a row without a 2xx, the last: %s; retried, and reported until it answers",
                    self.name, self._target.origin, self.consecutive_failures, problem,
                )
            first_failure = first_failure or time.monotonic()
            give_up = time.monotonic() - first_failure >= self._webhook.dead_letter_after_seconds
            if attempt.permanent or give_up:
                reason = problem if attempt.permanent else f"failing for {self._webhook.dead_letter_after_seconds:.0f} s, the last attempt: {problem}"
                self._outbox.set_aside(self.name, event.id, attempt_number, reason, now)
                log.warning(
                    "webhook %s (%s): event %s set aside as a dead letter after %d attempt(s): %s (bizpbx events dead / retry / skip)",
                    self.name, self._target.origin, event_id, attempt_number, reason,
                    extra={"call_uuid": event.call_uuid},
                )
                return
            wait = min(max(delay, attempt.retry_after or 0.0), self._backoff[1])
            log.info(
                "webhook %s (%s): event %s not delivered (attempt %d: %s); again in %.1f s",
                self.name, self._target.origin, event_id, attempt_number, problem, wait,
                extra={"call_uuid": event.call_uuid},
            )
            await asyncio.sleep(wait)

    # --- one attempt --------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = self._webhook.timeout_seconds
            self._client = httpx.AsyncClient(
                verify=ssl_context(self._webhook),
                timeout=httpx.Timeout(timeout),
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,  # followed here, re-POSTing the event
                trust_env=False,
            )
        return self._client

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001 - a broken connection has nothing left to close
                log.debug("webhook %s: closing the HTTP client failed", self.name, exc_info=True)

    async def attempt(self, body: bytes, headers: dict[str, str]) -> Attempt:
        """POST the event once, following redirects; never raises (but for cancellation)."""
        url, auth = self._target.url, self._target.auth
        try:
            async with asyncio.timeout(self._webhook.timeout_seconds * ATTEMPT_TIMEOUTS):
                client = self._http()
                for _ in range(MAX_REDIRECTS + 1):
                    request = client.build_request("POST", url, content=body, headers=headers)
                    response = await client.send(request, auth=auth, stream=True)
                    await response.aclose()  # the body is of no interest, however long
                    status = response.status_code
                    if status not in REDIRECTS:
                        return self._judge(status, response)
                    location = response.headers.get("location")
                    if not location:
                        return Attempt(False, f"HTTP {status} without a Location")
                    next_url = url.join(location)
                    if next_url.scheme not in ("http", "https"):
                        return Attempt(False, f"HTTP {status} to a {next_url.scheme or 'relative'} URL")
                    if url.scheme == "https" and next_url.scheme == "http":
                        return Attempt(False, f"HTTP {status} from https to plain http refused")
                    if not same_origin(url, next_url):
                        auth = None  # the credentials are for the webhook's own origin
                    url = next_url
                return Attempt(False, f"more than {MAX_REDIRECTS} redirects")
        except TimeoutError:
            return Attempt(False, f"no complete reply within {self._webhook.timeout_seconds * ATTEMPT_TIMEOUTS:g} s")
        except httpx.TimeoutException as error:
            return Attempt(False, f"{type(error).__name__} (over {self._webhook.timeout_seconds:g} s)")
        except Exception as error:  # noqa: BLE001 - any reply, however broken, is one failed attempt
            detail = str(error) or repr(error)
            return Attempt(False, f"{type(error).__name__}: {detail}")

    @staticmethod
    def _judge(status: int, response: httpx.Response) -> Attempt:
        if len(response.extensions.get("reason_phrase", b"")) > MAX_STATUS_LINE - len("HTTP/1.1 200 \r\n"):
            return Attempt(False, f"a status line over {MAX_STATUS_LINE // 1024} KiB (HTTP {status})")
        if 200 <= status < 300:
            return Attempt(True)
        problem = f"HTTP {status}"
        if 400 <= status < 500 and status not in RETRIED_CLIENT_ERRORS:
            return Attempt(False, problem, permanent=True)
        return Attempt(False, problem, retry_after=retry_after(response))


# --- what `bizpbx status` shows ----------------------------------------------------


def health_report(outbox: Outbox, names: Iterable[str]) -> dict[str, dict]:
    """Per webhook, from the ledger (so also while the controller is stopped)."""
    report = {}
    for name in names:
        health = outbox.health(name)
        report[name] = {
            "failing": health.consecutive_failures >= FAILING_AFTER,
            "consecutive_failures": health.consecutive_failures,
            "last_success": _iso(health.last_success_at),
            "last_failure": _iso(health.last_failure_at),
            "last_error": health.last_error,
            "dead_letters": outbox.dead_count(name),
        }
    return report


def describe_health(hook: dict) -> str:
    state = f"FAILING, {hook['consecutive_failures']} attempts in a row" if hook["failing"] else "ok"
    if hook["consecutive_failures"] and not hook["failing"]:
        state += f" ({hook['consecutive_failures']} failed attempt(s) in a row)"
    text = f"{state}; last success: {hook['last_success'] or 'none yet'}"
    if hook["consecutive_failures"]:
        text += f"; last error: {hook['last_error']}"
    return text + f"; dead letters: {hook['dead_letters']}"


def _iso(epoch: int | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).isoformat()
