"""A phone over TLS with SRTP through a real FreeSWITCH 1.10 and the controller.

The switch runs the demo site with freeswitch.tls enabled, SRTP mandatory and
plain SIP switched off for the phones, its certificate made by the freeswitch
role's own script (roles/freeswitch/files/make-tls-certificate). The phone is a
second FreeSWITCH (tls_phone.py) registering as employee 12-101 over TLS; it
dials a mobile number, which the controller sends out through the trunk to a
SIPp callee playing the provider (plain UDP, plain RTP).

Needs FREESWITCH_PREFIX, sipp and openssl, like the other live tests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from local_net import answers, free_port
from test_live import HOTLINE, PREFIX, SIPP, Live, live, sipp, wait_for  # noqa: F401 - live is the fixture
from softphone import Account, accounts_line, configuration, console
from tls_phone import ESL_PASSWORD, TlsPhone

from bizpbx.esl.aio import InboundClient

REPO = Path(__file__).resolve().parents[2]
MAKE_CERTIFICATE = REPO / "roles" / "freeswitch" / "files" / "make-tls-certificate"
OUTSIDE = "89161234567"  # a Russian mobile: 2.90 a started minute through the trunk (inventory/lab/rates.csv)
TALK_SECONDS = 5  # beyond the deck's 3 free seconds

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not PREFIX, reason="FREESWITCH_PREFIX is unset: point it at a FreeSWITCH 1.10 install prefix to run the live TLS test"),
    pytest.mark.skipif(SIPP is None, reason="sipp is not on PATH: install Debian's sip-tester to play the provider"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not on PATH: the switch's certificate is made with it"),
]


def tls_only_with_srtp(data: dict) -> None:
    """The site change: phones over TLS only, SRTP mandatory, the certificate made as the role makes it."""
    cert_dir = Path(data["recordings"]["dir"]).parent / "switch-tls"
    cert_dir.mkdir(mode=0o700)
    subprocess.run([str(MAKE_CERTIFICATE), str(cert_dir), "pbx.test", "IP:127.0.0.1"], check=True)
    data["freeswitch"]["tls"] = {"enabled": True, "port": free_port(), "trunk_port": free_port(), "cert_dir": str(cert_dir), "srtp": "mandatory"}
    data["freeswitch"]["internal"]["udp"] = False


async def api(port: int, password: str, command: str) -> str:
    async with InboundClient("127.0.0.1", port, password, reconnect=False) as client:
        return await client.api(command)


def switch_api(live: Live, command: str) -> str:
    return asyncio.run(api(live.site.esl.port, os.environ["BIZPBX_ESL__PASSWORD"], command))


def phone_api(phone: TlsPhone, command: str) -> str:
    return asyncio.run(api(phone.esl_port, ESL_PASSWORD, command))


def channels(live: Live) -> list[dict]:
    listing = json.loads(switch_api(live, "show channels as json"))
    return listing.get("rows", [])


@contextmanager
def tls_phone(live: Live, work: Path, org_id: str, extension: str) -> Iterator[TlsPhone]:
    """A phone registering over TLS as the employee; returns once its gateway is up."""
    employee = live.site.organizations[org_id].employees[extension]
    phone = TlsPhone(
        Path(PREFIX) / "bin" / "freeswitch",
        Path(PREFIX) / "lib" / "freeswitch" / "mod",
        work,
        user=f"{org_id}-{extension}",
        password=employee.password.get_secret_value(),
        domain=live.site.freeswitch.sip_domain,
        switch_tls_port=live.site.freeswitch.tls.port,
    )
    try:
        wait_for(lambda: phone.process.poll() is None and answers(phone.esl_port), "the phone's event socket")
        # Its gateway registered, and so up for calls.
        wait_for(lambda: re.search(r"^Status\s+UP", phone_api(phone, "sofia status gateway pbx"), re.MULTILINE) is not None, f"the phone's gateway up:\n{phone.log()}")
        yield phone
    finally:
        phone.stop()


@pytest.fixture
def phone(live: Live, tmp_path: Path):
    with tls_phone(live, tmp_path / "phone", "12", "101") as phone:
        yield phone


@pytest.mark.parametrize("live", [tls_only_with_srtp], indirect=True)
def test_a_phone_registers_over_tls_and_calls_out_with_srtp(live: Live, phone: TlsPhone):
    # Plain SIP is off for the phones: nothing listens on the profile's plain port, over TCP or UDP.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", live.internal), timeout=5).close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("127.0.0.1", live.internal))
        udp.send(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n\r\n")
        udp.settimeout(5)
        with pytest.raises(ConnectionRefusedError):
            udp.recv(1024)  # loopback's ICMP port unreachable

    wait_for(lambda: "12-101@" in switch_api(live, "sofia status profile internal reg"), f"the phone's registration:\n{phone.log()}")
    registrations = switch_api(live, "sofia status profile internal reg")
    contact = next(line for line in registrations.splitlines() if line.startswith("Contact:"))
    assert "transport=tls" in contact, registrations

    # SRTP is mandatory for the phones: a call offering plain RTP (RTP/AVP, no key) is refused before it is routed.
    refused = phone_api(phone, f"originate {{rtp_secure_media=forbidden}}sofia/gateway/pbx/{OUTSIDE} talk XML phone")
    assert refused.startswith("-ERR INCOMPATIBLE_DESTINATION"), refused

    provider = subprocess.Popen(
        [SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(live.site.trunks["carrier"].port), "-m", "1", "-timeout", "60s"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=live.work,
    )
    try:
        # The phone insists on SRTP too (RTP/SAVP): the call only goes through if the switch takes it.
        answer = phone_api(phone, f"originate {{rtp_secure_media=mandatory,ignore_early_media=true}}sofia/gateway/pbx/{OUTSIDE} talk XML phone")
        assert answer.startswith("+OK"), f"{answer}\n{phone.log()}"
        wait_for(lambda: len(channels(live)) == 2, "both legs of the call on the switch")
        legs = {row["direction"]: row["uuid"] for row in channels(live)}
        phone_leg, trunk_leg = legs["inbound"], legs["outbound"]
        # A suite of RFC 4568 / RFC 7714 (FreeSWITCH prefers AEAD_AES_256_GCM_8 of those the phone offers).
        assert re.match(r"(AEAD_AES|AES_CM)_\d+_", switch_api(live, f"uuid_getvar {phone_leg} rtp_secure_media_negotiated"))
        offer = switch_api(live, f"uuid_getvar {phone_leg} switch_r_sdp")
        assert "RTP/SAVP" in offer and "a=crypto:" in offer, offer
        answered = switch_api(live, f"uuid_getvar {phone_leg} rtp_local_sdp_str")
        assert "RTP/SAVP" in answered and "a=crypto:" in answered, answered
        # What the phone received is that answer: SRTP with the switch's key.
        # Listed once the phone's core database has it: FreeSWITCH writes it there asynchronously (in CI, after
        # the originate had returned).
        wait_for(lambda: json.loads(phone_api(phone, "show channels as json")).get("rows"), "the phone's channel listed")
        [phone_channel] = json.loads(phone_api(phone, "show channels as json"))["rows"]
        received = phone_api(phone, f"uuid_getvar {phone_channel['uuid']} switch_r_sdp")
        [key] = re.findall(r"^a=crypto:.*$", answered, re.MULTILINE)
        assert "RTP/SAVP" in received and key.strip() in received, (received, answered)
        # The provider's leg stays plain: the trunk decides its own media (asked while the call is up: once
        # the phone hangs up, its BYE may end the trunk's leg before the question arrives).
        assert switch_api(live, f"uuid_getvar {trunk_leg} rtp_secure_media_negotiated") == "_undef_"
        time.sleep(TALK_SECONDS)  # a call past the deck's free seconds, to be billed
        assert phone_api(phone, f"uuid_kill {phone_channel['uuid']}").startswith("+OK")
    finally:
        out, _ = provider.communicate(timeout=60)
    assert provider.returncode == 0, out[-2000:] + phone.log()

    call, events = live.the_one_call("12")
    assert (call.direction, call.outcome, call.cost) == ("outbound", "billed", Decimal("2.90")), call
    names = [e.name for e in events]
    assert names == ["call.started", "call.answered", "call.ended"], names
    assert events[0].data["employee"]["target"] == "extension:101" and events[1].data["answered_by"]["number"] == "+79161234567"


@pytest.mark.parametrize("live", [tls_only_with_srtp], indirect=True)
def test_a_hotline_call_rings_a_phone_over_tls_with_srtp(live: Live, tmp_path: Path):
    with tls_phone(live, tmp_path / "phone", "34", "200") as phone:
        live.write_caller(HOTLINE)
        caller = subprocess.Popen(
            sipp(live.work, "caller", f"127.0.0.1:{live.external}", "-m", "1", "-p", str(free_port(socket.SOCK_DGRAM))),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=live.work,
        )
        try:
            # The phone takes SRTP only: it answers only if the switch offered it, over the TLS contact it registered.
            def answered_phone_leg() -> str | None:
                rows = json.loads(phone_api(phone, "show channels as json")).get("rows", [])
                return next((row["uuid"] for row in rows if row.get("callstate") == "ACTIVE"), None)

            wait_for(lambda: answered_phone_leg() is not None, f"the phone answering:\n{phone.log()}")
            leg = answered_phone_leg()
            assert phone_api(phone, f"uuid_getvar {leg} sip_via_protocol") == "tls"
            offer = phone_api(phone, f"uuid_getvar {leg} switch_r_sdp")
            assert "RTP/SAVP" in offer and "a=crypto:" in offer, offer
            assert re.match(r"(AEAD_AES|AES_CM)_\d+_", phone_api(phone, f"uuid_getvar {leg} rtp_secure_media_negotiated"))
        finally:
            out, _ = caller.communicate(timeout=60)
        assert caller.returncode == 0, out[-2000:] + phone.log()
    call, events = live.the_one_call("34")
    assert (call.direction, call.cost) == ("inbound", Decimal("3.50")), call
    assert [e.name for e in events] == ["call.started", "call.answered", "call.ended", "call.recorded"]  # 34 records calls from outside
    assert events[1].data["answered_by"]["target"] == "extension:200"


@pytest.mark.skipif(shutil.which("baresip") is None, reason="baresip is not on PATH: install Debian's baresip-core, the softphone")
@pytest.mark.parametrize("live", [tls_only_with_srtp], indirect=True)
def test_debians_baresip_registers_over_tls_and_calls_out_with_srtp(live: Live, tmp_path: Path):
    """The same with a softphone from Debian's packages, as the lab's phone host runs it."""
    conf = tmp_path / "baresip"
    conf.mkdir()
    employee = live.site.organizations["12"].employees["101"]
    account = Account("12-101", employee.password.get_secret_value(), live.site.freeswitch.sip_domain, f"127.0.0.1:{live.site.freeswitch.tls.port}", Path(live.site.freeswitch.tls.cert_dir) / "cafile.pem")
    console_port = free_port(socket.SOCK_DGRAM)
    (conf / "config").write_text(configuration(sip_listen=f"127.0.0.1:{free_port()}", cafile=account.cafile, console_port=console_port, rtp_ports=(44000, 44100)))
    (conf / "accounts").write_text(accounts_line(account))
    with (tmp_path / "baresip.log").open("wb") as log:
        softphone = subprocess.Popen(["baresip", "-f", str(conf), "-n", "127.0.0.1", "-v"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    provider = None
    try:
        wait_for(lambda: "12-101@" in switch_api(live, "sofia status profile internal reg"), "baresip's registration")
        contact = next(line for line in switch_api(live, "sofia status profile internal reg").splitlines() if line.startswith("Contact:"))
        assert "transport=tls" in contact, contact
        provider = subprocess.Popen(
            [SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(live.site.trunks["carrier"].port), "-m", "1", "-timeout", "60s"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=live.work,
        )
        console(console_port, f"/dial {OUTSIDE}")
        wait_for(lambda: len(channels(live)) == 2, "both legs of the call on the switch")
        legs = {row["direction"]: row["uuid"] for row in channels(live)}
        assert re.match(r"(AEAD_AES|AES_CM)_\d+_", switch_api(live, f"uuid_getvar {legs['inbound']} rtp_secure_media_negotiated"))
        offer = switch_api(live, f"uuid_getvar {legs['inbound']} switch_r_sdp")
        assert "RTP/SAVP" in offer and "a=crypto:" in offer, offer
        time.sleep(TALK_SECONDS)
        console(console_port, "/hangup")
        out, _ = provider.communicate(timeout=60)
        assert provider.returncode == 0, out[-2000:]
    finally:
        if provider is not None and provider.poll() is None:
            provider.kill()
        softphone.terminate()
        softphone.wait(30)
    call, events = live.the_one_call("12")
    assert (call.direction, call.outcome, call.cost) == ("outbound", "billed", Decimal("2.90")), call
    assert [e.name for e in events] == ["call.started", "call.answered", "call.ended"]


FAIL2BAN_FILTER = REPO / "roles" / "fail2ban" / "templates" / "etc" / "fail2ban" / "filter.d" / "freeswitch-bizpbx.conf.j2"


def failregex() -> re.Pattern[str]:
    """The fail2ban filter's failregex as Python reads it (<HOST> an address, %% a %)."""
    [line] = [line for line in FAIL2BAN_FILTER.read_text(encoding="utf-8").splitlines() if line.startswith("failregex = ")]
    return re.compile(line.removeprefix("failregex = ").replace("%%", "%").replace("<HOST>", r"(?P<host>[0-9a-fA-F.:]+)"))


@pytest.mark.parametrize("live", [tls_only_with_srtp], indirect=True)
def test_a_failed_registration_over_tls_is_logged_as_fail2ban_reads_it(live: Live, tmp_path: Path):
    impostor = TlsPhone(
        Path(PREFIX) / "bin" / "freeswitch",
        Path(PREFIX) / "lib" / "freeswitch" / "mod",
        tmp_path / "impostor",
        user="12-102",
        password="not-the-password-of-12-102",
        domain=live.site.freeswitch.sip_domain,
        switch_tls_port=live.site.freeswitch.tls.port,
    )
    log = live.work / "log" / "freeswitch.log"
    try:
        wait_for(lambda: "SIP auth failure (REGISTER)" in log.read_text(errors="replace"), f"a failed registration in the switch's log:\n{impostor.log()}")
    finally:
        impostor.stop()
    [failure, *_] = [line for line in log.read_text(errors="replace").splitlines() if "SIP auth failure (REGISTER)" in line]
    assert "12-102@" in failure
    match = failregex().search(failure)
    assert match is not None and match["host"] == "127.0.0.1", failure
    assert "12-102@" not in switch_api(live, "sofia status profile internal reg")


def with_a_tls_trunk(data: dict) -> None:
    """tls_only_with_srtp, and the trunk reached over TLS at a port of the test's own."""
    tls_only_with_srtp(data)
    data["trunks"]["carrier"].update(transport="tls", port=free_port())


class ProviderOverTls:
    """The provider's end of a TLS trunk, as far as this test needs it: a TLS listener
    (the switch's own certificate) that keeps the first SIP request it reads."""

    def __init__(self, port: int, cert_dir: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_dir / "cafile.pem", cert_dir / "agent.pem")
        self.listener = context.wrap_socket(socket.create_server(("127.0.0.1", port)), server_side=True)
        self.listener.settimeout(60)
        self.request = b""
        self.thread = threading.Thread(target=self._read_one_request, daemon=True)
        self.thread.start()

    def _read_one_request(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            while b"\r\n\r\n" not in self.request:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                self.request += chunk

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("live", [with_a_tls_trunk], indirect=True)
def test_a_tls_trunk_carries_the_call_out_over_tls(live: Live, phone: TlsPhone):
    trunk_port = live.site.trunks["carrier"].port
    provider = ProviderOverTls(trunk_port, live.site.freeswitch.tls.cert_dir)
    try:
        # The trunk profile listens for TLS from the provider too, on tls.trunk_port.
        assert f":{live.site.freeswitch.tls.trunk_port};transport=tls" in switch_api(live, "sofia status profile external")
        caller = threading.Thread(target=phone_api, args=(phone, f"originate {{rtp_secure_media=mandatory,originate_timeout=10}}sofia/gateway/pbx/{OUTSIDE} talk XML phone"))
        caller.start()
        provider.thread.join(60)
        caller.join(60)
    finally:
        provider.close()
    request_line = provider.request.split(b"\r\n", 1)[0].decode()
    assert request_line.startswith("INVITE sip:+79161234567@127.0.0.1") and "transport=tls" in request_line, provider.request[:500]
    assert "SIP/2.0/TLS" in provider.request.decode(), "the Via names the transport the request came over"
