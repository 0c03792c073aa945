"""Phones over TLS with SRTP, and trunks over TLS: the settings and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_site_model import problems_of, write_site

from bizpbx.site_loader import load_site


def test_tls_is_off_by_default_and_plain_sip_on(lab_site_copy):
    switch = load_site(lab_site_copy).freeswitch
    assert switch.tls.enabled is False and switch.internal.udp is True
    assert (switch.tls.port, switch.tls.trunk_port, switch.tls.certificate, switch.tls.srtp) == (5061, 5081, "self-signed", "optional")


def test_a_tls_site_with_a_tls_trunk_loads(tmp_path, lab_secrets):
    def tls(data):
        data["freeswitch"]["tls"] = {"enabled": True, "srtp": "mandatory", "certificate": "files", "cert_file": "/etc/ssl/pbx.crt", "key_file": "/etc/ssl/pbx.key"}
        data["freeswitch"]["internal"] = {"udp": False}
        data["trunks"]["carrier"]["transport"] = "tls"
        data["trunks"]["carrier"].pop("port")

    site = load_site(write_site(tmp_path, tls))
    assert site.freeswitch.internal.udp is False and site.freeswitch.internal.port == 5060
    assert site.freeswitch.tls.cert_file == Path("/etc/ssl/pbx.crt")
    carrier = site.trunks["carrier"]
    assert (carrier.transport, carrier.port) == ("tls", 5061), "a TLS trunk's port is 5061 unless given"


def test_a_tls_trunk_keeps_the_port_it_is_given(tmp_path, lab_secrets):
    def tls(data):
        data["freeswitch"]["tls"] = {"enabled": True}
        data["trunks"]["carrier"].update(transport="tls", port=5071)

    assert load_site(write_site(tmp_path, tls)).trunks["carrier"].port == 5071


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"internal": {"udp": False}}, ("freeswitch", "internal.udp is false, but tls.enabled is not")),
        ({"tls": {"enabled": True, "certificate": "files", "cert_file": "/etc/ssl/pbx.crt"}}, ("freeswitch.tls", "certificate is files, so key_file must be set")),
        ({"tls": {"enabled": True, "certificate": "files", "cert_file": "pbx.crt", "key_file": "/k"}}, ("freeswitch.tls.cert_file", "pbx.crt is not an absolute path")),
        ({"tls": {"enabled": True, "certificate": "acme", "acme_email": "admin@example.com"}}, ("freeswitch.tls", "certificate is acme, so acme_domain must be set")),
        ({"tls": {"enabled": True, "certificate": "acme", "acme_domain": "localhost", "acme_email": "a@b.c"}}, ("freeswitch.tls.acme_domain", "pattern")),
        ({"tls": {"enabled": True, "key_file": "/etc/ssl/pbx.key"}}, ("freeswitch.tls", "key_file is set but certificate is self-signed")),
        ({"tls": {"enabled": True, "srtp": "forbidden"}}, ("freeswitch.tls.srtp", "'optional' or 'mandatory'")),
        ({"tls": {"enabled": True, "port": 5060}}, ("freeswitch", "tls uses port 5060, which a plain SIP profile")),
        ({"tls": {"enabled": True, "trunk_port": 5061}}, ("freeswitch.tls", "port and trunk_port are both 5061")),
        ({"external": {"udp": False}}, ("freeswitch.external.udp", "unknown setting")),
    ],
    ids=lambda v: str(v[0]) if isinstance(v, tuple) else None,
)
def test_tls_errors_name_the_field(tmp_path, lab_secrets, change, expected):
    def edit(data):
        for part, values in change.items():
            data["freeswitch"].setdefault(part, {}).update(values)

    path, reason = expected
    problems = problems_of(write_site(tmp_path, edit))
    assert any(p == path and reason in r for p, r in problems), problems
