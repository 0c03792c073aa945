"""A call the switch parked in the `socket` application when the controller died during the
socket's handshake is routed once a controller is back, on a real FreeSWITCH 1.10 (needs
FREESWITCH_PREFIX and SIPp, as test_live.py).

The controller's death in the handshake is played by a listener that accepts the switch's
connection and closes it before any `connect`: FreeSWITCH then logs "Socket Error!" and parks
the call, as it did in the lab when the controller was killed during a burst.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from contextlib import closing

from local_net import free_port
from test_live import HOTLINE, Live, answered_by_phone, live, sipp, wait_for  # noqa: F401 - live is the fixture
from test_live import pytestmark as live_test_marks

from bizpbx.controller.outbox import Outbox

pytestmark = live_test_marks


class HangingUpListener:
    """Accepts on the controller's socket port and closes each connection at once."""

    def __init__(self, port: int) -> None:
        self.accepted = 0
        self._server = socket.create_server(("127.0.0.1", port))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()


def test_a_call_parked_by_a_lost_socket_handshake_is_routed_once_a_controller_is_back(live: Live):
    live.controller.terminate()
    assert live.controller.wait(60) == 0
    live.controller = None  # type: ignore[assignment]

    def call_stranded_then_taken_back() -> None:
        listener = HangingUpListener(live.site.controller.socket.port)
        try:
            live.write_caller(HOTLINE, talk_ms=3000)
            caller = subprocess.Popen(
                sipp(live.work, "caller", f"127.0.0.1:{live.external}", "-m", "1", "-p", str(free_port(socket.SOCK_DGRAM))),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=live.work,
            )
            wait_for(lambda: listener.accepted >= 1, "the switch to connect to the dying listener")
            time.sleep(2)  # parked now: with no controller and no fallback it would stay so
            assert caller.poll() is None, "the call is waiting"
        finally:
            listener.close()
        live.start_controller()
        out, err = caller.communicate(timeout=90)
        assert caller.returncode == 0, out[-2000:] + err[-2000:]

    answered_by_phone(live, call_stranded_then_taken_back)
    with closing(Outbox(live.site.controller.ledger)) as outbox:
        wait_for(lambda: any(e.name == "call.answered" for e in outbox.after(0)), "call.answered of the call taken back")

