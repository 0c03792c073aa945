"""Phones over TLS with SRTP, and trunks over TLS, in the rendered tree."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rendered_tree import edit_site

from bizpbx.render import render_site
from bizpbx.site_loader import load_site


def profile_params(files: dict[str, bytes], name: str) -> dict[str, str]:
    root = ET.fromstring(files["autoload_configs/sofia.conf.xml"])
    [profile] = [p for p in root.iter("profile") if p.get("name") == name]
    return {param.get("name"): param.get("value") for param in profile.find("settings").iter("param")}


def tls_site(site_file, tls: dict, udp: bool = True, trunk_transport: str = "udp"):
    def edit(data):
        data["freeswitch"]["tls"] = tls
        data["freeswitch"]["internal"] = {"udp": udp}
        data["trunks"]["carrier"]["transport"] = trunk_transport

    return load_site(edit_site(site_file, edit), generate_missing_secrets=True)


def test_phones_profile_listens_for_tls_beside_plain_sip(lab_site_copy):
    files = render_site(tls_site(lab_site_copy, {"enabled": True, "port": 5071, "cert_dir": "/srv/tls"}))
    internal = profile_params(files, "internal")
    assert {k: v for k, v in internal.items() if k.startswith("tls")} == {
        "tls": "true",
        "tls-only": "false",
        "tls-sip-port": "5071",
        "tls-cert-dir": "/srv/tls",
        "tls-version": "tlsv1.2,tlsv1.3",
        "tls-verify-policy": "none",
    }
    assert internal["sip-port"] == "5060"
    assert not any(k.startswith("tls") for k in profile_params(files, "external")), "no trunk uses tls: no TLS listener for trunks"


def test_plain_sip_switched_off_leaves_tls_only(lab_site_copy):
    files = render_site(tls_site(lab_site_copy, {"enabled": True}, udp=False))
    assert profile_params(files, "internal")["tls-only"] == "true"


def test_srtp_policy_is_on_the_calls_to_and_from_phones(lab_site_copy):
    files = render_site(tls_site(lab_site_copy, {"enabled": True, "srtp": "mandatory"}))
    domain = ET.fromstring(files["directory/domain.xml"]).find("domain")
    dial_string = domain.find("params/param[@name='dial-string']").get("value")
    assert dial_string.startswith("{presence_id=${dialed_user}@${dialed_domain},rtp_secure_media=mandatory}")
    variables = {v.get("name"): v.get("value") for v in domain.iter("variable")}
    assert variables == {"rtp_secure_media_inbound": "mandatory"}
    # The trunk's legs are left as they were: the provider decides about its media.
    assert b"rtp_secure_media" not in files["autoload_configs/sofia.conf.xml"]


def test_a_tls_trunk_gets_the_trunk_profile_tls_listener_and_a_tls_gateway(lab_site_copy):
    site = tls_site(lab_site_copy, {"enabled": True, "trunk_port": 5091}, trunk_transport="tls")
    files = render_site(site)
    external = profile_params(files, "external")
    assert (external["tls"], external["tls-only"], external["tls-sip-port"], external["sip-port"]) == ("true", "false", "5091", "5080")
    root = ET.fromstring(files["autoload_configs/sofia.conf.xml"])
    [gateway] = root.iter("gateway")
    params = {p.get("name"): p.get("value") for p in gateway.iter("param")}
    assert (params["register-transport"], params["proxy"]) == ("tls", f"{site.trunks['carrier'].proxy}:5060")
