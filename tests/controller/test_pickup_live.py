"""Call pickup's offer on a real FreeSWITCH 1.10: while the controller's bridge rings an
organization's phones, the switch holds the call in mod_hash for `intercept` (*8); each leg
offers it as the switch creates it (`api_on_originate`), with no command on the call's socket.

Needs FREESWITCH_PREFIX and SIPp, as test_live.py.
"""

from __future__ import annotations

import signal
import socket
import subprocess

from local_net import free_port
from sipp_scenarios import UNANSWERED_PHONE_SCENARIO
from test_live import CALLER, HOTLINE, Live, live, sipp, wait_for  # noqa: F401 - live is the fixture
from test_live import pytestmark as live_test_marks
from test_live_tls import switch_api

pytestmark = live_test_marks


def test_a_call_ringing_the_organizations_phones_is_offered_for_pickup(live: Live):
    phone_port = free_port(socket.SOCK_DGRAM)
    (live.work / "phone.xml").write_text(UNANSWERED_PHONE_SCENARIO)
    phone = subprocess.Popen(sipp(live.work, "phone", "-p", str(phone_port)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=live.work)
    caller = None
    try:
        live.register("34", "200", phone_port)  # the support group's first phone: it rings, nobody answers
        live.write_caller(HOTLINE)
        caller = subprocess.Popen(sipp(live.work, "caller", f"127.0.0.1:{live.external}", "-m", "1", "-p", str(free_port(socket.SOCK_DGRAM))), cwd=live.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def offered(org_id: str) -> str | None:
            """The call offered for pickup to organization `org_id`'s phones (None: none; the switch says -ERR no reply)."""
            reply = switch_api(live, f"hash select/bizpbx_pickup/{org_id}").strip()
            return None if reply.startswith("-ERR") else reply

        wait_for(lambda: offered("34") is not None, "the ringing call offered for pickup", bound=30)
        calling = offered("34")
        facts = [switch_api(live, f"uuid_getvar {calling} {name}").strip() for name in ("direction", "caller_id_number", "bizpbx_org_id")]
        assert facts == ["inbound", CALLER, "34"], "the offer names the caller's channel, for intercept to take"
        assert offered("12") is None, "never another organization's"
        switch_api(live, f"uuid_kill {calling}")  # the caller gives up
    finally:
        if caller is not None:
            caller.kill()
            caller.wait(30)
        phone.send_signal(signal.SIGUSR1)
        phone.communicate(timeout=60)
