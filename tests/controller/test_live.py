"""The controller with a real FreeSWITCH 1.10 and calls placed by SIPp.

Needs FREESWITCH_PREFIX (the install prefix: $FREESWITCH_PREFIX/bin/freeswitch)
and SIPp (`sipp` on PATH: Debian's sip-tester). The demo site is rendered into a
temporary directory with every port on loopback; the trunk is IP-authenticated
so nothing registers anywhere.

A SIPp caller dials the main number, keys the organization ID 12 as SIP INFO
and hangs up after a few seconds. The controller answers, collects the ID and
routes the call (the owner's phone is not registered, so to voicemail); when
the call ends it must be in the ledger once, charged to organization 12, with
its call events.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from local_net import free_port

from bizpbx.commands.status import read_metrics
from bizpbx.controller.outbox import Outbox
from bizpbx.file_tree import replace_tree
from bizpbx.ledger import Ledger
from bizpbx.render import render_site
from bizpbx.site_loader import load_site

PREFIX = os.environ.get("FREESWITCH_PREFIX")
SIPP = shutil.which("sipp")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not PREFIX, reason="FREESWITCH_PREFIX is unset: point it at a FreeSWITCH 1.10 install prefix to run the live controller test"),
    pytest.mark.skipif(SIPP is None, reason="sipp is not on PATH: install Debian's sip-tester to place the live test's calls"),
]

STARTUP_SECONDS = 60

# A caller from Kazan dials the main number, keys 1, 2, # as SIP INFO, talks, hangs up.
CALLER_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="main number with an organization ID">
  <send retrans="500"><![CDATA[
INVITE sip:74952121562@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:78432123456@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:74952121562@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:78432123456@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 0
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:74952121562@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:78432123456@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:74952121562@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <pause milliseconds="2000"/>
  <!-- the organization ID: 1, 2 and the terminator -->
  DTMF_INFO
  <pause milliseconds="6000"/>
  <send retrans="500"><![CDATA[
BYE sip:74952121562@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:78432123456@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:74952121562@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 9 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""

DTMF_INFO = """<send><![CDATA[
INFO sip:74952121562@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:78432123456@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:74952121562@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} INFO
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal={digit}
Duration=160
]]></send>
  <recv response="200"/>
  <pause milliseconds="300"/>
"""


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for(condition, what: str, bound: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.25)


def test_a_main_number_call_through_freeswitch_is_routed_and_rated_once(lab_site_copy: Path, tmp_path: Path, monkeypatch):
    binary = Path(PREFIX) / "bin" / "freeswitch"
    assert binary.is_file(), f"{binary} does not exist: FREESWITCH_PREFIX must be the install prefix"
    monkeypatch.delenv("BIZPBX_TRUNKS__CARRIER__PASSWORD")  # an IP-authenticated trunk has none
    external, esl = free_port(socket.SOCK_DGRAM), free_port()
    data = yaml.safe_load(lab_site_copy.read_text(encoding="utf-8"))
    data["freeswitch"].update(
        log_dir=str(tmp_path / "log"),
        storage_dir=str(tmp_path / "storage"),
        sounds_dir=str(tmp_path / "sounds"),
        phone_networks=["127.0.0.0/8"],
        sip_domain="127.0.0.1",
        internal={"ip": "127.0.0.1", "port": free_port(socket.SOCK_DGRAM)},
        external={"ip": "127.0.0.1", "port": external},
        rtp_start_port=42000,
        rtp_end_port=42100,
    )
    carrier = data["trunks"]["carrier"]
    carrier.update(proxy="127.0.0.1", port=free_port(socket.SOCK_DGRAM), auth="ip", source_addresses=["127.0.0.1/32"])
    carrier.pop("username", None)
    carrier.pop("realm", None)
    data["esl"] = {"port": esl}
    data["controller"] = {"socket": {"port": free_port()}, "metrics": {"port": free_port()}, "ledger": str(tmp_path / "ledger.sqlite3")}
    lab_site_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    site = load_site(lab_site_copy, generate_missing_secrets=True)
    conf = tmp_path / "conf"
    replace_tree(conf, render_site(site))
    command = [str(binary), "-nonat", "-nf", "-nc", "-conf", str(conf), "-mod", str(Path(PREFIX) / "lib" / "freeswitch" / "mod")]
    for name in ("log", "db", "run", "storage", "cache", "temp", "recordings", "sounds"):
        (tmp_path / name).mkdir(exist_ok=True)
        command += [f"-{name}", str(tmp_path / name)]
    switch = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=tmp_path)
    controller_log = (tmp_path / "controller.log").open("wb")
    controller = subprocess.Popen([sys.executable, "-m", "bizpbx.cli", "controller", str(lab_site_copy)], stdout=controller_log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: answers(esl), "FreeSWITCH's event socket")
        wait_for(lambda: read_metrics(f"http://127.0.0.1:{site.controller.metrics.port}/metrics") is not None, "the controller's metrics endpoint")
        digits = "".join(DTMF_INFO.format(cseq=2 + n, digit=d) for n, d in enumerate("12#"))
        scenario = tmp_path / "caller.xml"
        scenario.write_text(CALLER_SCENARIO.replace("DTMF_INFO", digits))
        sipp = subprocess.run(
            [SIPP, f"127.0.0.1:{external}", "-sf", str(scenario), "-m", "1", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-timeout", "60s", "-trace_err"],
            capture_output=True, text=True, cwd=tmp_path, check=False,
        )
        assert sipp.returncode == 0, sipp.stdout[-2000:] + sipp.stderr[-2000:]

        def stored() -> list:
            with Ledger(site.controller.ledger) as ledger:
                return list(ledger.calls("12", 0, 2**31))

        wait_for(lambda: len(stored()) == 1, "the call in the ledger")
        time.sleep(6)  # a CDR sweep later the CDR of the same call must not add a second row
        [call] = stored()
        assert call.direction == "inbound"
        names = [e.name for e in Outbox(site.controller.ledger).after(0) if e.call_uuid == call.uuid]
        assert names[0] == "call.started" and names.count("call.ended") == 1
    finally:
        controller.terminate()
        assert controller.wait(60) == 0, (tmp_path / "controller.log").read_text(errors="replace")[-3000:]
        switch.terminate()
        try:
            switch.wait(30)
        except subprocess.TimeoutExpired:
            switch.kill()
