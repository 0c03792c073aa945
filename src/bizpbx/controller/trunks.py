"""Watching the trunks: gateway reports from the switch into their states,
the metrics and trunk.up / trunk.down events (the rules: `trunk_state`).

Reports arrive as CUSTOM sofia::gateway_state events on the controller's
event socket. Events raised while the controller was not connected are
lost, so after every (re)connection it asks the switch for every gateway's
state (`sofia xmlstatus gateway`); the consumers then hear of a change
they missed, and of nothing they were already told before a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from bizpbx.controller.outbox import Outbox
from bizpbx.controller.trunk_state import UNKNOWN, TrunkEvent, TrunkWatch, XmlStatusError, event_subject, report_from_event, reports_from_xmlstatus
from bizpbx.esl.errors import EslError
from bizpbx.esl.events import Event
from bizpbx.esl.aio import InboundClient

log = logging.getLogger(__name__)

GATEWAY_LIST_COMMAND = "sofia xmlstatus gateway"
ASK_SECONDS = 10.0
CONNECTION_POLL_SECONDS = 0.5
UNKNOWN_ASK_SECONDS = 5.0


class Trunks:
    def __init__(self, trunks: Iterable[str], outbox: Outbox, store: Callable[[TrunkEvent], None]) -> None:
        self.watch = TrunkWatch(trunks)
        self._outbox = outbox
        self._store = store

    def on_event(self, event: Event) -> bool:
        """Take a gateway report from the event socket; False for any other event."""
        report = report_from_event(event)
        if report is None:
            return False
        self._take(self.watch.observe(report))
        return True

    def _take(self, event: TrunkEvent | None) -> None:
        if event is None:
            return
        trunk, state = event.body["trunk"], event.body["state"]
        if event.name.endswith(".up"):
            log.warning("trunk %s is up again (%s)", trunk, event.body["registration"])
        else:
            log.warning("trunk %s is %s: %s", trunk, state, event.body["reason"])
        self._store(event)

    async def ask(self, inbound: InboundClient) -> None:
        """Every gateway's state from the switch (at start, and after a reconnection)."""
        try:
            text = await asyncio.wait_for(inbound.api(GATEWAY_LIST_COMMAND), ASK_SECONDS)
            reports = reports_from_xmlstatus(text)
        except (TimeoutError, OSError, EslError, XmlStatusError) as error:
            log.warning("%s: %s; the trunks' states come from the switch's next reports", GATEWAY_LIST_COMMAND, str(error) or type(error).__name__)
            return
        for report in reports:
            self._take(self.watch.observe(report, announced=self._outbox.last_name(event_subject(report.gateway))))

    async def follow(self, inbound: InboundClient) -> None:
        """Ask the switch again whenever the event socket has (re)connected, and while
        a trunk is still unknown: a switch still starting its SIP profiles lists no
        gateway yet, and one that does not register raises no event after that."""
        asked, loop = 0, asyncio.get_running_loop()
        last = loop.time()
        while True:
            unknown = any(state.status == UNKNOWN for state in self.watch.states().values())
            if inbound.connected and (inbound.connections != asked or (unknown and loop.time() - last >= UNKNOWN_ASK_SECONDS)):
                asked, last = inbound.connections, loop.time()
                await self.ask(inbound)
            await asyncio.sleep(CONNECTION_POLL_SECONDS)
