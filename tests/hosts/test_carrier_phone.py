"""The lab's SIP provider (Kamailio) and phones (SIPp)."""

from __future__ import annotations

import time

import pytest

import bizpbx_lab as lab

PBX, CARRIER, PHONE = (lab.BY_NAME[name].address for name in ("pbx", "carrier", "phone"))

pytestmark = pytest.mark.lab

REGISTER_PROBE = r'''
import socket, sys
phone, carrier = sys.argv[1:3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((phone, 0))
s.settimeout(5)
port = s.getsockname()[1]
msg = (
    "REGISTER sip:carrier.lab SIP/2.0\r\n"
    f"Via: SIP/2.0/UDP {phone}:{port};branch=z9hG4bK-probe-1;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:bizpbx-lab@carrier.lab>;tag=probe\r\n"
    "To: <sip:bizpbx-lab@carrier.lab>\r\n"
    f"Call-ID: probe-1@{phone}\r\n"
    "CSeq: 1 REGISTER\r\n"
    f"Contact: <sip:bizpbx-lab@{phone}:{port}>\r\n"
    "Expires: 60\r\n"
    "Content-Length: 0\r\n\r\n"
)
s.sendto(msg.encode(), (carrier, 5060))
reply = s.recv(65535).decode(errors="replace")
sys.stdout.write(reply)
'''


def test_kamailio_running_on_the_lab_address(carrier) -> None:
    assert carrier.package("kamailio").is_installed
    assert carrier.service("kamailio").is_running
    assert carrier.service("kamailio").is_enabled
    assert carrier.socket(f"udp://{CARRIER}:5060").is_listening


def test_kamailio_credentials_file_is_private(carrier) -> None:
    f = carrier.file("/etc/kamailio/subscribers.cfg")
    assert (f.user, f.group, f.mode) == ("root", "kamailio", 0o640)


def test_kamailio_challenges_a_registration_without_credentials(phone) -> None:
    reply = phone.check_output(f"python3 - {PHONE} {CARRIER} <<'EOF'\n{REGISTER_PROBE}\nEOF")
    assert reply.startswith("SIP/2.0 401"), reply
    assert 'WWW-Authenticate: Digest realm="carrier.lab"' in reply


def test_sipp_installed_on_the_phone(phone) -> None:
    assert phone.package("sip-tester").is_installed
    assert phone.run("sipp -v").stdout.count("SIPp v3") == 1


@pytest.mark.usefixtures("needs_freeswitch")
def test_pbx_gateway_registered_at_the_carrier(carrier) -> None:
    """Registered, or again within the registration's lifetime (the lab site's 60 s): Kamailio keeps
    registrations in memory, and the first converge restarts it after the PBX first registered."""
    deadline = time.monotonic() + 90
    while not ("bizpbx-lab" in (dump := carrier.check_output("kamcmd ul.dump")) and PBX in dump):
        assert time.monotonic() < deadline, dump
        time.sleep(3)
