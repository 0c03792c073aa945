"""The rendered tree as FreeSWITCH reads it: well-formed, every include resolving,
the values of the site where they belong, no well-known secret anywhere."""

from __future__ import annotations

import ipaddress
import re
import stat
from pathlib import Path

from rendered_tree import includes, parse, settings, xml_files

import bizpbx_lab as lab
from bizpbx.cdr import cdr_csv_template


def test_every_file_is_well_formed_xml(rendered: Path):
    files = xml_files(rendered)
    assert files, "nothing rendered"
    for path in files:
        assert path.suffix == ".xml", f"{path} is not an XML file"
        parse(path)  # raises on malformed XML


def test_every_include_resolves_and_every_file_is_reached(rendered: Path, lab_site):
    reached = {rendered / "freeswitch.xml"}
    pending = [rendered / "freeswitch.xml"]
    outside = []
    while pending:
        for pattern, matches in includes(pending.pop()):
            if pattern.startswith("/"):
                outside.append(pattern)  # FreeSWITCH's own files, not in this tree
                continue
            assert matches, f"include {pattern!r} matches no file"
            for match in matches:
                if match not in reached:
                    reached.add(match)
                    pending.append(match)
    assert reached == set(xml_files(rendered)), "files FreeSWITCH would never read"
    assert outside == [f"{lab_site.freeswitch.phrases_dir}/ru/ru.xml"]  # the lab site speaks Russian


def test_the_preprocessor_would_drop_no_line_of_ours(rendered: Path):
    # FreeSWITCH drops every line that contains <include>, </include> or <?
    # (except the XML declaration it means to drop): a value on such a line would vanish.
    for path in xml_files(rendered):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "<include>" in line or "</include>" in line or "<?" in line:
                assert line.strip() in ("<include>", "</include>", '<?xml version="1.0"?>'), f"{path}:{number}: {line}"


def test_modules_are_the_chosen_ones(rendered: Path):
    modules = [m.get("module") for m in parse(rendered / "autoload_configs/modules.conf.xml").iter("load")]
    for needed in ("mod_sofia", "mod_event_socket", "mod_dptools", "mod_commands", "mod_dialplan_xml", "mod_cdr_csv", "mod_voicemail", "mod_logfile", "mod_console", "mod_hash", "mod_say_ru"):
        assert needed in modules
    assert len(modules) == len(set(modules))


def test_switch_limits_and_rtp_range_are_explicit(rendered: Path, lab_site):
    values = settings(parse(rendered / "autoload_configs/switch.conf.xml").find("settings"))
    fs = lab_site.freeswitch
    # Both legs of a call are sessions to the switch.
    assert values["max-sessions"] == str(2 * fs.max_calls) == "500"
    assert values["sessions-per-second"] == str(2 * fs.calls_per_second) == "120"
    assert (values["rtp-start-port"], values["rtp-end-port"]) == (str(fs.rtp_start_port), str(fs.rtp_end_port))


def test_no_default_password_is_set(rendered: Path):
    text = (rendered / "vars.xml").read_text(encoding="utf-8")
    assert "default_password" not in text


def _acl_lists(rendered: Path) -> dict[str, tuple[str, list[str]]]:
    lists = parse(rendered / "autoload_configs/acl.conf.xml").find("network-lists")
    return {
        lst.get("name"): (lst.get("default"), [node.get("cidr") for node in lst.findall("node") if node.get("type") == "allow"])
        for lst in lists.findall("list")
    }


def test_event_socket_on_loopback_with_the_site_password_and_an_acl(rendered: Path, lab_secrets):
    values = settings(parse(rendered / "autoload_configs/event_socket.conf.xml").find("settings"))
    assert values["listen-ip"] == "127.0.0.1"
    assert values["listen-port"] == "8021"
    assert values["password"] == lab_secrets["BIZPBX_ESL__PASSWORD"]
    default, allowed = _acl_lists(rendered)[values["apply-inbound-acl"]]
    assert default == "deny"
    assert allowed == ["127.0.0.1/32"]


def _profiles(rendered: Path) -> dict:
    profiles = parse(rendered / "autoload_configs/sofia.conf.xml").find("profiles")
    return {p.get("name"): p for p in profiles.findall("profile")}


def test_the_gateway_carries_the_trunk_values(rendered: Path, lab_site, lab_secrets):
    external = _profiles(rendered)["external"]
    gateways = {g.get("name"): g for g in external.find("gateways").findall("gateway")}
    assert set(gateways) == set(lab_site.trunks)
    trunk = lab_site.trunks["carrier"]
    values = settings(gateways["carrier"])
    assert values["proxy"] == f"{trunk.proxy}:{trunk.port}" == f"{lab.BY_NAME['carrier'].address}:5060"
    assert values["register-transport"] == "udp"
    assert values["register"] == "true"
    assert values["username"] == "bizpbx-lab"
    assert values["password"] == lab_secrets["BIZPBX_TRUNKS__CARRIER__PASSWORD"]
    assert values["realm"] == "carrier.lab"
    assert values["expire-seconds"] == str(trunk.register_expires)
    assert values["caller-id-in-from"] == "true"
    codecs = {v.get("name"): v.get("value") for v in gateways["carrier"].find("variables").findall("variable")}
    assert codecs["absolute_codec_string"] == "PCMA,PCMU"


def test_trunk_traffic_only_from_the_trunk_addresses(rendered: Path, lab_site):
    values = settings(_profiles(rendered)["external"].find("settings"))
    assert values["auth-calls"] == "false"
    default, allowed = _acl_lists(rendered)[values["apply-inbound-acl"]]
    assert default == "deny"
    assert allowed == [str(n) for n in lab_site.trunks["carrier"].source_addresses] == [f"{lab.BY_NAME['carrier'].address}/32"]
    assert values["disable-register"] == "true"
    assert values["context"] == "public"


def test_phones_authenticate_by_digest_from_the_phone_networks_only(rendered: Path, lab_site):
    values = settings(_profiles(rendered)["internal"].find("settings"))
    assert values["auth-calls"] == "true"
    assert values["log-auth-failures"] == "true"
    assert values["accept-blind-reg"] == "false" and values["accept-blind-auth"] == "false"
    # In 1.10 an address allowed by these lists skips digest auth (sofia.c,
    # sofia_reg.c): they must not be on the phones' profile.
    assert "apply-inbound-acl" not in values and "apply-register-acl" not in values
    domain = parse(rendered / "directory/domain.xml").find("domain")
    acl = settings(domain.find("params"))["auth-acl"]
    default, allowed = _acl_lists(rendered)[acl]
    assert default == "deny"
    assert allowed == [str(n) for n in lab_site.freeswitch.phone_networks] == [str(lab.PLAN.network.subnet)]


def test_cdr_csv_writes_the_bizpbx_template_for_a_legs(rendered: Path, lab_site):
    root = parse(rendered / "autoload_configs/cdr_csv.conf.xml")
    values = settings(root.find("settings"))
    assert values["legs"] == "a"
    assert values["default-template"] == "bizpbx"
    assert values["log-base"] == str(lab_site.freeswitch.log_dir)
    templates = {t.get("name"): t.text for t in root.find("templates").findall("template")}
    assert templates == {"bizpbx": cdr_csv_template()}


def test_business_hours_zone_is_defined_for_the_switch(rendered: Path):
    zones = {z.get("name"): z.get("value") for z in parse(rendered / "autoload_configs/timezones.conf.xml").iter("zone")}
    assert zones == {"Europe/Moscow": "MSK-3"}
    assert '<X-PRE-PROCESS cmd="set" data="timezone=Europe/Moscow"/>' in (rendered / "vars.xml").read_text(encoding="utf-8")


def test_ivr_menus_of_the_site(rendered: Path, lab_site):
    menus = {m.get("name"): m for m in parse(rendered / "autoload_configs/ivr.conf.xml").iter("menu")}
    assert set(menus) == {"org-12-main", "org-12-support"}
    main = menus["org-12-main"]
    assert main.get("greet-long") == "ivr/ivr-welcome.wav"
    assert main.get("timeout") == "5000" and main.get("max-failures") == "3"
    entries = {e.get("digits"): e.get("param") for e in main.iter("entry")}
    assert entries == {
        "0": "transfer ivr-support XML org-12-incoming",
        "1": "transfer group-sales XML org-12-incoming",
        "2": "transfer ext-102 XML org-12-incoming",
    }


def test_one_directory_user_per_employee(rendered: Path, lab_site):
    users = {}
    for path in sorted((rendered / "directory").glob("org-*.xml")):
        for group in parse(path).iter("group"):
            for user in group.iter("user"):
                users[user.get("id")] = (group.get("name"), user)
    expected = {f"{org_id}-{ext}" for org_id, org in lab_site.organizations.items() for ext in org.employees}
    assert set(users) == expected
    group, user = users["12-100"]
    assert group == "org-12"
    params = settings(user.find("params"))
    assert params["password"] == lab_site.organizations["12"].employees["100"].password.get_secret_value()
    assert params["vm-enabled"] == "true"
    assert params["vm-password"] == lab_site.organizations["12"].employees["100"].voicemail.pin.get_secret_value()
    assert params["vm-mailto"] == "ivan@romashka.example"
    variables = {v.get("name"): v.get("value") for v in user.find("variables").findall("variable")}
    assert variables == {
        "user_context": "org-12",
        "accountcode": "12",
        "bizpbx_org_id": "12",
        "bizpbx_user_id": "12-100",
        "effective_caller_id_name": "Иван Петров",
        "effective_caller_id_number": "100",
    }
    assert settings(users["34-201"][1].find("params"))["vm-enabled"] == "false"


def test_every_file_is_private_to_owner_and_group(rendered: Path):
    assert stat.S_IMODE(rendered.stat().st_mode) == 0o750
    for path in rendered.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o750 if path.is_dir() else 0o640), f"{path}: {mode:o}"


def test_no_secret_setting_holds_a_well_known_password(rendered: Path):
    for path in xml_files(rendered):
        for element in parse(path).iter():
            if "password" in (element.get("name") or "") or "password" in (element.get("data") or ""):
                value = element.get("value") or element.get("data") or ""
                assert value.split("=")[-1].strip().lower() not in {"1234", "cluecon", ""}, f"{path}: {element.attrib}"


def test_addresses_in_acl_lists_are_networks(rendered: Path):
    for _, (_, allowed) in _acl_lists(rendered).items():
        for cidr in allowed:
            ipaddress.IPv4Network(cidr)  # raises on anything else
            assert re.fullmatch(r"[\d.]+/\d+", cidr)
