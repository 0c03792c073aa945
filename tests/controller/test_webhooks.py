"""Webhook delivery against real HTTP servers on 127.0.0.1 (asyncio sockets,
real httpx): down, failing, hostile, redirecting, over TLS; the controller
restarted in between. Every event arrives once, in order, signed; no reply
stops the delivery loop; refused events become dead letters that the CLI
lists, queues again and forgets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import socket
import sqlite3
import ssl
import struct
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from local_net import until
from scraped import serving

from bizpbx import __version__
from bizpbx.cli import main as bizpbx
from bizpbx.controller.metrics import Metrics
from bizpbx.controller.outbox import Outbox
from bizpbx.controller.webhooks import FAILING_AFTER, MAX_REDIRECTS, Delivery
from bizpbx.settings import Webhook

SECRET = "webhook-test-secret-0123"
README = Path(__file__).resolve().parents[2] / "README.md"
FAST = (0.05, 0.2)  # backoff of the tests' delivery loops


# --- a consumer's HTTP endpoint ----------------------------------------------------


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


# What an endpoint does with a request: bytes to send (then it reads the next
# request on the connection), or a coroutine that takes over the connection
# (its reader and writer) until it returns; the connection is closed then.
Reply = Callable[[Request], "bytes | Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]"]

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


class Endpoint:
    def __init__(self, reply: Reply = lambda request: NO_CONTENT, tls: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.tls = tls
        self.requests: list[Request] = []
        self.accepted: list[Request] = []  # answered 2xx
        self.server: asyncio.Server | None = None

    port = 0  # known once started, kept once stopped

    def url(self, path: str = "/hooks/calls?site=lab", userinfo: str = "") -> str:
        return f"{'https' if self.tls else 'http'}://{userinfo}127.0.0.1:{self.port}{path}"

    async def start(self, port: int = 0) -> Endpoint:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode()
                except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                    return
                request_line, *lines = head.strip().split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(method, target, headers, body)
                self.requests.append(request)
                answer = self.reply(request)
                if callable(answer):
                    await answer(reader, writer)
                    return
                if re.match(rb"HTTP/1\.1 2\d\d ", answer):
                    self.accepted.append(request)
                writer.write(answer)
                await writer.drain()
        finally:
            writer.close()


def status(code: int, reason: str = "Whatever", headers: str = "") -> bytes:
    return f"HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\n{headers}\r\n".encode()


def event(call: str, name: str, **fields) -> tuple[str, str, str, dict]:
    key = f"{call}:{name}"
    return key, call, name, {"event": name, "id": key, "call_uuid": call, **fields}


@asynccontextmanager
async def delivering(name: str, hook: Webhook, outbox: Outbox, metrics: Metrics | None = None):
    delivery = Delivery(name, hook, outbox, backoff=FAST, metrics=metrics)
    task = asyncio.create_task(delivery.run())
    try:
        yield delivery
        assert not task.done(), "the delivery loop ended"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def log_text(caplog) -> str:
    return "\n".join(record.getMessage() + (f" {record.exc_text}" if record.exc_text else "") for record in caplog.records)


# --- order, restarts, signature ------------------------------------------------------


def test_a_webhook_down_then_up_gets_every_event_once_in_order_per_call(tmp_path):
    ledger = tmp_path / "ledger.sqlite3"
    calls = ["call-a", "call-b", "call-c"]
    limit = {"accept": 3, "failures": 2}

    def reply(request: Request) -> bytes:
        refused = len(endpoint.requests) <= limit["failures"] or (limit["accept"] is not None and len(endpoint.accepted) >= limit["accept"])
        return status(503) if refused else NO_CONTENT

    endpoint = Endpoint(reply)

    async def scenario() -> None:
        probe = await Endpoint().start()
        port = probe.port
        await probe.stop()
        hook = Webhook(url=f"http://127.0.0.1:{port}/hooks/calls?site=lab", secret=SECRET, timeout_seconds=2)

        outbox = Outbox(ledger)
        # Events of three calls, interleaved as calls overlap.
        outbox.add([event(c, "call.started") for c in calls])
        outbox.add([event(c, "call.answered") for c in calls[:2]])
        async with delivering("crm", hook, outbox) as delivery:
            await asyncio.sleep(0.5)  # the webhook is down: attempts fail, nothing is lost
            assert len(delivery.pending()) == 5
            await endpoint.start(port)
            await until(lambda: len(delivery.pending()) == 2, "the first three deliveries")
        # The controller stops and starts again with a new process's objects;
        # meanwhile the webhook takes nothing more.
        outbox.close()
        outbox = Outbox(ledger)
        outbox.add([event("call-c", "call.answered")] + [event(c, "call.ended") for c in calls])
        limit["accept"] = None
        async with delivering("crm", hook, outbox) as delivery:
            assert len(delivery.pending()) == 6  # what the first run had not delivered, and what came since
            await until(lambda: not delivery.pending(), "the outbox to drain")
        await endpoint.stop()
        assert outbox.depth(["crm"]) == 0

    asyncio.run(scenario())
    bodies = [request.event for request in endpoint.accepted]
    ids = [b["id"] for b in bodies]
    assert sorted(ids) == sorted({f"{c}:{n}" for c in calls for n in ("call.started", "call.answered", "call.ended")})
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    for call in calls:
        assert [b["event"] for b in bodies if b["call_uuid"] == call] == ["call.started", "call.answered", "call.ended"], call
    refused = len(endpoint.requests) - len(endpoint.accepted)
    assert refused >= 2 and len(endpoint.requests) == len(ids) + refused
    for request in endpoint.accepted:
        timestamp = request.headers["x-bizpbx-timestamp"]
        assert abs(int(timestamp) - time.time()) < 60
        expected = "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-bizpbx-signature"] == expected
        assert request.headers["x-bizpbx-event-id"] == request.event["id"]
        assert request.headers["user-agent"] == f"bizpbx/{__version__}"
        assert request.method == "POST" and request.target == "/hooks/calls?site=lab"


def readme_verification_snippet() -> str:
    section = README.read_text(encoding="utf-8").split("## Call events", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```python\n(.*?)```", section, re.S)
    return snippet


def test_the_readme_snippet_verifies_a_real_delivery_and_refuses_a_replay_or_a_forgery(tmp_path):
    endpoint = Endpoint()

    async def scenario() -> None:
        await endpoint.start()
        outbox = Outbox(tmp_path / "ledger.sqlite3")
        outbox.add([event("x", "call.ended", cost="12.40")])
        async with delivering("crm", Webhook(url=endpoint.url(), secret=SECRET), outbox) as delivery:
            await until(lambda: not delivery.pending(), "the delivery")
        await endpoint.stop()

    asyncio.run(scenario())
    namespace: dict = {}
    exec(readme_verification_snippet(), namespace)  # noqa: S102 - the README's own code, run as a consumer would
    verify = namespace["verify"]
    [request] = endpoint.accepted
    timestamp, signed = request.headers["x-bizpbx-timestamp"], request.headers["x-bizpbx-signature"]
    assert verify(SECRET, timestamp, signed, request.body)
    assert not verify("another-secret-0123456", timestamp, signed, request.body)
    assert not verify(SECRET, timestamp, signed, request.body.replace(b"12.40", b"0.01"))
    assert not verify(SECRET, str(int(timestamp) + 1), signed, request.body)  # a new timestamp needs a new signature
    assert not verify(SECRET, timestamp, signed, request.body, now=int(timestamp) + 600)  # the same delivery replayed ten minutes on


# --- the connection: credentials, redirects, TLS ------------------------------------------


def test_credentials_in_the_url_become_basic_auth_and_appear_in_no_host_header_or_log(tmp_path, caplog):
    answers = iter([status(503), b"\x00\xff garbage with no status\r\n\r\n"])
    endpoint = Endpoint(lambda request: next(answers, NO_CONTENT))

    async def scenario() -> None:
        await endpoint.start()
        url = endpoint.url("/hook?token=query-token-123", userinfo="crm-user:pa%40ss-w0rd@")
        outbox = Outbox(tmp_path / "ledger.sqlite3")
        outbox.add([event("x", "call.started")])
        with caplog.at_level(logging.DEBUG, logger="bizpbx.controller.webhooks"):
            async with delivering("crm", Webhook(url=url, secret=SECRET), outbox) as delivery:
                await until(lambda: not delivery.pending(), "the delivery")
        await endpoint.stop()

    asyncio.run(scenario())
    assert len(endpoint.requests) == 3
    for request in endpoint.requests:
        assert request.headers["authorization"] == "Basic " + base64.b64encode(b"crm-user:pa@ss-w0rd").decode()
        assert request.headers["host"] == f"127.0.0.1:{endpoint.port}"
        assert request.target == "/hook?token=query-token-123"
    logged = log_text(caplog)
    assert "attempt 1: HTTP 503" in logged and "attempt 2:" in logged  # the failures were logged...
    for secret in ("pa%40ss", "pa@ss", "w0rd", "crm-user", "query-token-123", SECRET):
        assert secret not in logged  # ...without a secret


def test_redirects_are_followed_with_the_same_post_and_credentials_stay_with_their_origin(tmp_path):
    elsewhere = Endpoint()

    def first(request: Request) -> bytes:
        if request.target == "/moved":
            return status(302, headers=f"Location: http://127.0.0.1:{elsewhere.port}/final\r\n")
        return status(307, headers="Location: /moved\r\n")

    origin = Endpoint(first)
    looping = Endpoint(lambda request: status(308, headers="Location: /again\r\n"))

    async def scenario() -> None:
        for endpoint in (origin, elsewhere, looping):
            await endpoint.start()
        outbox = Outbox(tmp_path / "ledger.sqlite3")
        outbox.add([event("x", "call.started")])
        async with delivering("crm", Webhook(url=origin.url("/hook", userinfo="user:secret-password@"), secret=SECRET), outbox) as delivery:
            await until(lambda: not delivery.pending(), "the delivery")
        # A webhook redirecting forever: every attempt ends after MAX_REDIRECTS, and is retried.
        async with delivering("loop", Webhook(url=looping.url("/hook"), secret=SECRET), outbox) as delivery:
            await until(lambda: len(looping.requests) >= 2 * (MAX_REDIRECTS + 1), "two attempts")
            assert delivery.pending() and outbox.health("loop").last_error == f"more than {MAX_REDIRECTS} redirects"
            assert outbox.dead_count("loop") == 0
        for endpoint in (origin, elsewhere, looping):
            await endpoint.stop()

    asyncio.run(scenario())
    assert [r.target for r in origin.requests] == ["/hook", "/moved"]
    [final] = elsewhere.requests
    assert final.method == "POST" and final.body == origin.requests[0].body
    assert final.headers["x-bizpbx-signature"] == origin.requests[0].headers["x-bizpbx-signature"]
    assert all("authorization" in r.headers for r in origin.requests)
    assert "authorization" not in final.headers  # another port is another origin


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA of the CRM's own and the endpoint's certificate for 127.0.0.1 signed by it; a CA that signed nothing."""
    here = tmp_path_factory.mktemp("tls")
    ca, stranger = trustme.CA(), trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca.cert_pem.write_to_path(str(here / "crm-ca.pem"))
    stranger.cert_pem.write_to_path(str(here / "other-ca.pem"))
    return server, here / "crm-ca.pem", here / "other-ca.pem"


def test_tls_is_verified_against_the_webhooks_ca_file_and_nothing_else(tmp_path, certificates, caplog):
    server_context, crm_ca, other_ca = certificates
    endpoint = Endpoint(tls=server_context)

    async def scenario() -> dict[str, tuple[bool, str | None]]:
        await endpoint.start()
        outcome = {}
        for name, ca_file in (("system", None), ("stranger", other_ca), ("own", crm_ca)):
            outbox = Outbox(tmp_path / f"{name}.sqlite3")
            outbox.add([event("x", "call.started")])
            hook = Webhook(url=endpoint.url(), secret=SECRET, ca_file=ca_file)
            async with delivering("crm", hook, outbox) as delivery:
                if name == "own":
                    await until(lambda: not delivery.pending(), "the delivery over TLS")
                else:
                    await until(lambda: outbox.health("crm").consecutive_failures >= 2, "two failed attempts")
                outcome[name] = (not delivery.pending(), outbox.health("crm").last_error)
        await endpoint.stop()
        return outcome

    with caplog.at_level(logging.INFO, logger="bizpbx.controller.webhooks"):
        outcome = asyncio.run(scenario())
    assert outcome["own"] == (True, None)
    for name in ("system", "stranger"):
        delivered, error = outcome[name]
        assert not delivered and "CERTIFICATE_VERIFY_FAILED" in error, name
    assert len(endpoint.accepted) == 1
    assert "CERTIFICATE_VERIFY_FAILED" in log_text(caplog)


# --- hostile replies ------------------------------------------------------------------------


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
    writer.transport.abort()


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    try:
        while not reader.at_eof():  # a header byte every 0.1 s: each read is quick, the reply never completes
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(0.1)
    except ConnectionError:
        pass  # the client gave up


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


HOSTILE = {
    "a 200 whose status line is over 64 KiB": b"HTTP/1.1 200 " + b"A" * (64 * 1024) + b"\r\n\r\n",
    "a status line of 1 MiB": b"HTTP/1.1 200 " + b"A" * 1024 * 1024 + b"\r\n\r\n",
    "200 KiB of headers": b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"B" * (200 * 1024) + b"\r\n\r\n",
    "garbage": b"\x00\xff\xfe SSH-2.0-OpenSSH \r\n\x1b[31m\r\n\r\n",
    "a status that is not a number": b"HTTP/1.1 2OO OK\r\n\r\n",
    "a reset connection": _reset,
    "a hang-up before any reply": _hang_up,
    "a reply trickling forever": _trickle,
    "no reply at all": _silent,
    "a 503 with a Retry-After of a year": status(503, headers="Retry-After: 31536000\r\n"),
    "a 429": status(429),
    "a 408": status(408),
    "a 302 without a Location": status(302),
    "a 301 to another scheme": status(301, headers="Location: ftp://127.0.0.1/x\r\n"),
}


@pytest.mark.parametrize("hostile", HOSTILE.keys())
def test_any_reply_is_one_failed_attempt_logged_and_retried_and_the_loop_lives_on(tmp_path, caplog, hostile):
    answers = iter([HOSTILE[hostile], HOSTILE[hostile]])
    endpoint = Endpoint(lambda request: next(answers, NO_CONTENT))

    async def scenario() -> Outbox:
        await endpoint.start()
        outbox = Outbox(tmp_path / "ledger.sqlite3")
        outbox.add([event("x", "call.started"), event("x", "call.ended")])
        with caplog.at_level(logging.INFO, logger="bizpbx.controller.webhooks"):
            async with delivering("crm", Webhook(url=endpoint.url(), secret=SECRET, timeout_seconds=0.4), outbox) as delivery:
                await until(lambda: not delivery.pending(), "both events delivered", bound=30)
        await endpoint.stop()
        return outbox

    outbox = asyncio.run(scenario())
    # Two failed attempts of the first event, then each event once.
    assert [r.event["event"] for r in endpoint.requests] == ["call.started", "call.started", "call.started", "call.ended"]
    failures = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert [re.search(r"attempt (\d+)", line).group(1) for line in failures] == ["1", "2"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("bizpbx")]
    assert outbox.health("crm").consecutive_failures == 0 and outbox.dead_count("crm") == 0


def test_the_delivery_loop_survives_an_error_of_its_own_and_says_so(tmp_path, caplog):
    endpoint = Endpoint()

    async def scenario() -> Delivery:
        await endpoint.start()
        outbox = Outbox(tmp_path / "ledger.sqlite3")
        outbox.add([event("x", "call.started")])
        real_after, broken = outbox.after, iter([True])

        def after(*args, **kwargs):
            if next(broken, False):
                raise sqlite3.OperationalError("disk I/O error")
            return real_after(*args, **kwargs)

        outbox.after = after
        with caplog.at_level(logging.INFO, logger="bizpbx.controller.webhooks"):
            async with delivering("crm", Webhook(url=endpoint.url(), secret=SECRET), outbox) as delivery:
                await until(lambda: len(endpoint.accepted) == 1, "the delivery after the restart")
        await endpoint.stop()
        return delivery

    delivery = asyncio.run(scenario())
    assert delivery.restarts == 1
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "delivery loop failed; started again" in failure.getMessage() and "disk I/O error" in failure.exc_text


# --- dead letters -----------------------------------------------------------------------------


def refuse_poison(request: Request) -> bytes:
    return status(422, "Unprocessable Entity") if request.event.get("poison") else NO_CONTENT


def test_a_refused_event_becomes_a_dead_letter_later_events_flow_and_the_cli_lists_retries_and_skips_it(site, lab_site_copy, tmp_path, capsys, caplog):
    answers = {"refuse": True}
    endpoint = Endpoint(lambda request: refuse_poison(request) if answers["refuse"] else NO_CONTENT)
    site_file = str(lab_site_copy)

    def cli(*argv: str) -> tuple[int, str]:
        code = bizpbx(list(argv))
        out, err = capsys.readouterr()
        return code, out + err

    async def scenario() -> dict:
        await endpoint.start()
        built = site(webhooks={"crm": {"url": endpoint.url(), "secret": SECRET}})
        seen: dict = {}
        outbox = Outbox(built.controller.ledger)
        outbox.add([event("a", "call.started"), event("a", "call.ended", poison=True), event("b", "call.started", poison=True), event("b", "call.ended")])
        metrics = Metrics()
        with caplog.at_level(logging.INFO, logger="bizpbx.controller.webhooks"):
            async with delivering("crm", built.controller.webhooks["crm"], outbox, metrics) as delivery, serving(metrics) as scrape:
                metrics.watch_webhooks(lambda: [delivery])
                await until(lambda: not delivery.pending(), "the events not refused")
                seen["first"] = [r.event["id"] for r in endpoint.accepted]
                seen["metrics"] = await scrape()
                seen["dead"] = cli("events", "dead", site_file)
                seen["dead_json"] = cli("events", "dead", site_file, "--json")
                seen["status"] = cli("status", site_file, "--json")
                seen["unknown"] = cli("events", "retry", site_file, "999")
                answers["refuse"] = False
                [first_dead] = [json.loads(line) for line in seen["dead_json"][1].splitlines()][:1]
                seen["retry"] = cli("events", "retry", site_file, str(first_dead["id"]), "b:call.started")
                outbox.add([event("c", "call.started")])
                delivery.wake.set()
                await until(lambda: not delivery.pending(), "the dead letters queued again, then the new event")
                seen["after"] = cli("events", "dead", site_file)
                seen["metrics_after"] = await scrape()
        await endpoint.stop()
        return seen

    seen = asyncio.run(scenario())
    assert seen["first"] == ["a:call.started", "b:call.ended"]  # the refused events held nothing back
    assert seen["metrics"].value("bizpbx_webhook_dead_letters", webhook="crm") == 2
    # Each attempt timed, by its outcome: two delivered, two refused for good (422).
    assert seen["metrics"].value("bizpbx_webhook_delivery_seconds_count", webhook="crm", outcome="delivered") == 2
    assert seen["metrics"].value("bizpbx_webhook_delivery_seconds_count", webhook="crm", outcome="refused") == 2
    assert seen["metrics"].value("bizpbx_webhook_delivery_seconds_bucket", webhook="crm", outcome="refused", le="180.0") == 2
    assert seen["metrics_after"].value("bizpbx_webhook_delivery_seconds_count", webhook="crm", outcome="delivered") == 5
    code, listing = seen["dead"]
    assert code == 0 and "a:call.ended" in listing and "b:call.started" in listing and "HTTP 422" in listing
    letters = [json.loads(line) for line in seen["dead_json"][1].splitlines()]
    assert [(d["webhook"], d["event_id"], d["state"], d["attempts"]) for d in letters] == [("crm", "a:call.ended", "dead", 1), ("crm", "b:call.started", "dead", 1)]
    assert letters[0]["body"]["poison"] is True
    status_shown = json.loads(seen["status"][1])
    assert status_shown["dead_letters"] == 2 and status_shown["webhooks"]["crm"]["dead_letters"] == 2
    assert seen["unknown"][0] == 1 and "no dead letter 999" in seen["unknown"][1]
    assert seen["retry"][0] == 0 and "2 dead letter(s) queued again" in seen["retry"][1]
    # Queued again: delivered in their order, before the event that came after.
    assert [r.event["id"] for r in endpoint.accepted][2:] == ["a:call.ended", "b:call.started", "c:call.started"]
    assert seen["after"] == (0, "no dead letters\n")
    assert seen["metrics_after"].value("bizpbx_webhook_dead_letters", webhook="crm") == 0
    dead_lines = [r for r in caplog.records if "set aside as a dead letter" in r.getMessage()]
    assert len(dead_lines) == 2 and all(r.levelno == logging.WARNING for r in dead_lines)


def test_a_webhook_refusing_everything_holds_nothing_back_and_skip_forgets(site, lab_site_copy, capsys):
    endpoint = Endpoint(lambda request: status(404, "Not Found"))
    site_file = str(lab_site_copy)

    async def scenario() -> tuple[list, list]:
        await endpoint.start()
        built = site(webhooks={"crm": {"url": endpoint.url(), "secret": SECRET}, "erp": {"url": endpoint.url("/erp"), "secret": SECRET, "events": ["call.ended"]}})
        outbox = Outbox(built.controller.ledger)
        outbox.add([event(f"call-{n}", name) for n in range(5) for name in ("call.started", "call.ended")])
        async with delivering("crm", built.controller.webhooks["crm"], outbox) as crm, delivering("erp", built.controller.webhooks["erp"], outbox) as erp:
            await until(lambda: not crm.pending() and not erp.pending(), "every event set aside")
        return [(d.webhook, d.event.data["id"]) for d in outbox.dead_letters()], [r.target for r in endpoint.requests]

    letters, targets = asyncio.run(scenario())
    assert len(letters) == 10 + 5 and targets.count("/erp") == 5  # each event tried once: a 404 is final
    assert bizpbx(["events", "skip", site_file, "call-0:call.ended"]) == 0  # both webhooks' letter of it
    assert bizpbx(["events", "skip", site_file, "--webhook", "erp", "--all"]) == 0
    capsys.readouterr()
    assert bizpbx(["events", "dead", site_file, "--json"]) == 0
    left = [json.loads(line)["event_id"] for line in capsys.readouterr().out.splitlines()]
    assert left == [f"call-{n}:{name}" for n in range(5) for name in ("call.started", "call.ended") if (n, name) != (0, "call.ended")]
    assert bizpbx(["events", "skip", site_file]) == 2  # nothing named: refused
    assert bizpbx(["events", "retry", site_file, "--webhook", "nobody"]) == 1


def test_an_event_failing_longer_than_the_limit_is_set_aside_and_the_next_one_goes(tmp_path):
    endpoint = Endpoint(lambda request: status(500) if request.event["call_uuid"] == "stuck" else NO_CONTENT)

    async def scenario() -> Outbox:
        await endpoint.start()
        outbox = Outbox(tmp_path / "ledger.sqlite3")
        outbox.add([event("stuck", "call.started"), event("fine", "call.started")])
        hook = Webhook(url=endpoint.url(), secret=SECRET, dead_letter_after_seconds=0.5)
        async with delivering("crm", hook, outbox) as delivery:
            await until(lambda: not delivery.pending(), "the stuck event set aside")
        await endpoint.stop()
        return outbox

    outbox = asyncio.run(scenario())
    [letter] = outbox.dead_letters("crm")
    assert letter.event.call_uuid == "stuck" and letter.attempts >= 2 and "HTTP 500" in letter.reason and "failing for" in letter.reason
    assert [r.event["call_uuid"] for r in endpoint.accepted] == ["fine"]


# --- persistent failure reported -----------------------------------------------------------


def test_a_webhook_failing_persistently_is_reported_once_and_its_recovery_too(site, lab_site_copy, capsys, caplog):
    answers = {"up": False}
    endpoint = Endpoint(lambda request: NO_CONTENT if answers["up"] else status(503, "Service Unavailable"))

    async def scenario() -> dict:
        await endpoint.start()
        built = site(webhooks={"crm": {"url": endpoint.url(), "secret": SECRET}})
        outbox = Outbox(built.controller.ledger)
        outbox.add([event("x", "call.started")])
        metrics, seen = Metrics(), {}
        with caplog.at_level(logging.INFO, logger="bizpbx.controller.webhooks"):
            async with delivering("crm", built.controller.webhooks["crm"], outbox, metrics) as delivery, serving(metrics) as scrape:
                metrics.watch_webhooks(lambda: [delivery])
                await until(lambda: len(endpoint.requests) >= FAILING_AFTER + 3, "attempts past the threshold")
                seen["metrics"] = await scrape()
                bizpbx(["status", str(lab_site_copy)])
                seen["status"] = capsys.readouterr().out
                answers["up"] = True
                await until(lambda: not delivery.pending(), "the delivery")
                seen["metrics_after"] = await scrape()
        await endpoint.stop()
        return seen

    started = time.time()
    seen = asyncio.run(scenario())
    failures = seen["metrics"].value("bizpbx_webhook_consecutive_failures", webhook="crm")
    assert failures >= FAILING_AFTER + 2
    assert seen["metrics"].value("bizpbx_webhook_delivery_seconds_count", webhook="crm", outcome="failed") >= failures
    assert seen["metrics"].value("bizpbx_webhook_last_success_timestamp_seconds", webhook="crm") == 0
    assert re.search(r"webhook crm: FAILING, \d+ attempts in a row; last success: none yet; last error: HTTP 503", seen["status"])
    assert seen["metrics_after"].value("bizpbx_webhook_consecutive_failures", webhook="crm") == 0
    assert seen["metrics_after"].value("bizpbx_webhook_delivery_seconds_count", webhook="crm", outcome="delivered") == 1
    last_success = seen["metrics_after"].value("bizpbx_webhook_last_success_timestamp_seconds", webhook="crm")
    assert last_success >= int(started)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # once failing, once delivering again: not every retry
    assert "failing" in warnings[0] and f"{FAILING_AFTER} attempts in a row" in warnings[0]
    assert "delivering again" in warnings[1]
    assert len([r for r in caplog.records if r.levelno == logging.INFO and "not delivered" in r.getMessage()]) == failures


# --- filters -------------------------------------------------------------------------------------


def test_a_webhook_gets_only_the_events_its_patterns_select(tmp_path):
    endpoint = Endpoint()

    async def scenario() -> None:
        await endpoint.start()
        outbox = Outbox(tmp_path / "ledger.sqlite3")
        outbox.add([event("x", name) for name in ("call.started", "call.answered", "call.transferred", "call.ended")])
        hooks = {"ended": ["call.ended"], "wild": ["call.*ed"], "prefix": ["call.an*", "call.tr*"]}
        for name, patterns in hooks.items():
            async with delivering(name, Webhook(url=endpoint.url(f"/{name}"), secret=SECRET, events=patterns), outbox) as delivery:
                await until(lambda: not delivery.pending(), f"{name} drained")
        await endpoint.stop()

    asyncio.run(scenario())
    got = {}
    for request in endpoint.accepted:
        got.setdefault(request.target, []).append(request.event["event"])
    assert got == {
        "/ended": ["call.ended"],
        "/wild": ["call.started", "call.answered", "call.transferred", "call.ended"],
        "/prefix": ["call.answered", "call.transferred"],
    }


@pytest.mark.parametrize("patterns", [["call.finished"], ["sms.*"], ["CALL.*"], []])
def test_a_pattern_that_selects_no_event_is_refused(patterns):
    with pytest.raises(ValueError, match="events"):
        Webhook(url="http://127.0.0.1/", secret=SECRET, events=patterns)


def test_every_event_the_controller_makes_can_be_selected():
    from bizpbx.controller import call_events
    from bizpbx.settings import EVENT_NAMES

    made = {value for name, value in vars(call_events).items() if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z]+\.[a-z_]+", value)}
    assert made and made <= set(EVENT_NAMES), "add the new event to bizpbx.settings.EVENT_NAMES"


def test_bizpbx_show_masks_a_password_in_a_webhook_url():
    hook = Webhook(url="https://crm-user:pa%40ss-w0rd@crm.example:8443/hook", secret=SECRET)
    shown = hook.model_dump(mode="json")
    assert shown["url"] == "https://crm-user:**********@crm.example:8443/hook"
    assert hook.url.endswith("pa%40ss-w0rd@crm.example:8443/hook")  # the delivery still has it
