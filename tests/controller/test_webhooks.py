"""Webhook delivery against a real HTTP server on 127.0.0.1: down, failing,
then up; the controller restarted in between. Every event arrives once, in
order per call, signed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

from local_net import until

from bizpbx.controller.outbox import Outbox
from bizpbx.controller.webhooks import Delivery
from bizpbx.settings import Webhook

SECRET = "webhook-test-secret-0123"


class Receiver:
    """A consumer's HTTP endpoint: answers 503 to the first `failures` requests,
    then 204, and 503 again once it has accepted `accept_at_most` events."""

    def __init__(self, failures: int, accept_at_most: int | None = None) -> None:
        self.failures = failures
        self.accept_at_most = accept_at_most
        self.accepted: list[tuple[dict[str, str], bytes]] = []
        self.requests = 0
        self.refused = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *lines = head.strip().split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}
        body = await reader.readexactly(int(headers["content-length"]))
        assert request_line == "POST /hooks/calls?site=lab HTTP/1.1"
        self.requests += 1
        full = self.accept_at_most is not None and len(self.accepted) >= self.accept_at_most
        if self.requests <= self.failures or full:
            self.refused += 1
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        else:
            self.accepted.append((headers, body))
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()


def event(call: str, name: str) -> tuple[str, str, str, dict]:
    key = f"{call}:{name}"
    return key, call, name, {"event": name, "id": key, "call_uuid": call}


def test_a_webhook_down_then_up_gets_every_event_once_in_order_per_call(tmp_path):
    ledger = tmp_path / "ledger.sqlite3"
    calls = ["call-a", "call-b", "call-c"]

    async def scenario() -> Receiver:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        hook = Webhook(url=f"http://127.0.0.1:{port}/hooks/calls?site=lab", secret=SECRET, timeout_seconds=2)

        outbox = Outbox(ledger)
        # Events of three calls, interleaved as calls overlap.
        outbox.add([event(c, "call.started") for c in calls])
        outbox.add([event(c, "call.answered") for c in calls[:2]])
        delivery = Delivery("crm", hook, outbox, backoff=(0.05, 0.2))
        running = asyncio.create_task(delivery.run())
        await asyncio.sleep(0.5)  # the webhook is down: attempts fail, nothing is lost
        assert len(delivery.pending()) == 5

        receiver = Receiver(failures=2, accept_at_most=3)
        server = await asyncio.start_server(receiver.handle, "127.0.0.1", port)
        await until(lambda: len(delivery.pending()) == 2, "the first three deliveries")
        # The controller stops and starts again with a new process's objects;
        # meanwhile the webhook takes nothing more.
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        outbox.close()
        outbox = Outbox(ledger)
        outbox.add([event("call-c", "call.answered")] + [event(c, "call.ended") for c in calls])
        delivery = Delivery("crm", hook, outbox, backoff=(0.05, 0.2))
        assert len(delivery.pending()) == 6  # what the first run had not delivered, and what came since
        receiver.accept_at_most = None
        running = asyncio.create_task(delivery.run())
        await until(lambda: not delivery.pending(), "the outbox to drain")
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        server.close()
        await server.wait_closed()
        assert outbox.depth(["crm"]) == 0
        return receiver

    receiver = asyncio.run(scenario())
    bodies = [json.loads(body) for _, body in receiver.accepted]
    ids = [b["id"] for b in bodies]
    assert sorted(ids) == sorted({f"{c}:{n}" for c in calls for n in ("call.started", "call.answered", "call.ended")})
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    for call in calls:
        assert [b["event"] for b in bodies if b["call_uuid"] == call] == ["call.started", "call.answered", "call.ended"], call
    assert receiver.requests == len(ids) + receiver.refused  # every refused request was retried, nothing else
    for headers, body in receiver.accepted:
        expected = "sha256=" + hmac.new(SECRET.encode(), headers["x-bizpbx-timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
        assert headers["x-bizpbx-signature"] == expected
        assert headers["x-bizpbx-event-id"] == json.loads(body)["id"]


def test_a_webhook_gets_only_the_events_it_subscribed_to(tmp_path):
    async def scenario() -> Receiver:
        receiver = Receiver(failures=0)
        server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        hook = Webhook(url=f"http://127.0.0.1:{port}/hooks/calls?site=lab", secret=SECRET, events=["call.ended"])
        outbox = Outbox(tmp_path / "ledger.sqlite3")
        outbox.add([event("x", "call.started"), event("x", "call.ended")])
        delivery = Delivery("crm", hook, outbox)
        running = asyncio.create_task(delivery.run())
        await until(lambda: not delivery.pending(), "the outbox to drain")
        running.cancel()
        server.close()
        return receiver

    receiver = asyncio.run(scenario())
    assert [json.loads(body)["event"] for _, body in receiver.accepted] == ["call.ended"]
