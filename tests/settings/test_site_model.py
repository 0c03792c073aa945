"""The site model: a good site, and each class of bad input with its message."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from bizpbx.settings import NumberKind, Target, TargetKind
from bizpbx.site_loader import SiteError, generated_path, load_site, secrets_path

LAB_SITE = Path(__file__).resolve().parents[2] / "inventory" / "lab" / "site.yml"


def write_site(directory: Path, mutate=None) -> Path:
    """The demo site, changed by `mutate(data)`, written to `directory`."""
    data = yaml.safe_load(LAB_SITE.read_text(encoding="utf-8"))
    if mutate is not None:
        mutate(data)
    (directory / "rates.csv").write_bytes((LAB_SITE.parent / "rates.csv").read_bytes())
    path = directory / "site.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(SiteError) as caught:
        load_site(path)
    return caught.value.problems


def test_demo_site_loads_with_defaults_of_the_rules(lab_site_copy):
    site = load_site(lab_site_copy)
    assert site.main_number.number == "+74952121562"
    assert site.numbers["+78005553535"].kind is NumberKind.HOTLINE
    assert site.tariffs.plans["prosto"].monthly_fee == Decimal(1000)
    assert site.tariffs.plans["prosto"].call_credit == Decimal(200)
    assert site.tariffs.individual_connection_fees["495"] == Decimal(2500)
    assert site.tariffs.individual_connection_fees["843"] == Decimal(1000)
    assert site.tariffs.hotline_connection_fee == Decimal(2950)
    assert site.tariffs.billing.initial == site.tariffs.billing.subsequent == 60
    assert str(site.esl.host) == "127.0.0.1"
    org = site.organizations["12"]
    assert org.employees["101"].forwarding.no_answer.to == Target(TargetKind.NUMBER, "+79161234567")
    assert org.ivr_menus["main"].options["0"] == Target(TargetKind.IVR, "support")
    assert not site.organizations["7"].has_telephony
    deck = site.trunks["carrier"].rate_deck
    assert deck is not None and deck.path == lab_site_copy.parent / "rates.csv"
    assert {row.prefix for row in deck.rows} >= {"7495", "79", "49"}


def test_environment_overrides_the_file(lab_site_copy, monkeypatch):
    monkeypatch.setenv("BIZPBX_FREESWITCH__MAX_CALLS", "77")
    monkeypatch.setenv("BIZPBX_ORGANIZATIONS__12__NAME", "Overridden")
    site = load_site(lab_site_copy)
    assert site.freeswitch.max_calls == 77
    assert site.organizations["12"].name == "Overridden"
    assert site.organizations["12"].employees["100"].name == "Иван Петров"


def test_secrets_overlay_is_merged_and_wins_over_generated(tmp_path, monkeypatch):
    monkeypatch.delenv("BIZPBX_ESL__PASSWORD", raising=False)
    monkeypatch.delenv("BIZPBX_TRUNKS__CARRIER__PASSWORD", raising=False)
    path = write_site(tmp_path)
    secrets_path(path).write_text(
        "esl: {password: overlay-secret-123}\n"
        "trunks: {carrier: {password: overlay-trunk}}\n"
        "organizations: {'12': {employees: {'101': {password: chosen-by-admin}}}}\n",
        encoding="utf-8",
    )
    site = load_site(path, generate_missing_secrets=True)
    assert site.esl.password.get_secret_value() == "overlay-secret-123"
    employees = site.organizations["12"].employees
    assert employees["101"].password.get_secret_value() == "chosen-by-admin"
    assert employees["100"].password is not None and employees["100"].voicemail.pin is not None


def test_generated_passwords_are_stored_privately_and_stable(lab_site_copy):
    first = load_site(lab_site_copy, generate_missing_secrets=True)
    store = generated_path(lab_site_copy)
    assert store.stat().st_mode & 0o777 == 0o600
    second = load_site(lab_site_copy, generate_missing_secrets=True)
    passwords = {
        (org_id, ext): e.password.get_secret_value()
        for org_id, org in first.organizations.items()
        for ext, e in org.employees.items()
    }
    assert len(set(passwords.values())) == len(passwords), "every employee gets a password of their own"
    assert all(len(p) >= 20 for p in passwords.values())
    assert passwords == {
        (org_id, ext): e.password.get_secret_value()
        for org_id, org in second.organizations.items()
        for ext, e in org.employees.items()
    }


def test_secrets_do_not_show_in_reprs_or_dumps(lab_site_copy):
    site = load_site(lab_site_copy)
    text = repr(site) + str(site.model_dump(mode="json"))
    assert "test-esl-secret-1" not in text and "test-carrier-secret" not in text


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["organizations"]["7"].update(bogus=1), ("organizations.7.bogus", "unknown setting")),
        (lambda d: d["trunks"]["carrier"].pop("proxy"), ("trunks.carrier.proxy", "required")),
        (lambda d: d["trunks"]["carrier"].update(transport="sctp"), ("trunks.carrier.transport", "'udp', 'tcp' or 'tls'")),
        (lambda d: d["trunks"]["carrier"].update(transport="tls"), ("trunks.carrier.transport", "tls needs freeswitch.tls.enabled")),
        (lambda d: d["freeswitch"].update(sip_domain="pbx.example.com\n<x>"), ("freeswitch.sip_domain", "pattern")),
        (lambda d: d["trunks"]["carrier"].update(source_addresses=[]), ("trunks.carrier.source_addresses", "at least 1")),
        (lambda d: d["trunks"]["carrier"].update(codecs=["PCMA", "MP3"]), ("trunks.carrier.codecs.1", "unknown codec 'MP3'")),
        (lambda d: d["esl"].update(host="0.0.0.0"), ("esl.host", "not a loopback address")),
        (lambda d: d["esl"].update(acl=["10.0.0.0/8"]), ("esl.acl", "not on loopback")),
        (
            lambda d: d.setdefault("controller", {}).update(metrics={"host": "0.0.0.0"}),
            ("controller.metrics", "host 0.0.0.0 is not loopback: list the networks Prometheus scrapes from in controller.metrics.monitoring_networks"),
        ),
        (
            lambda d: d.setdefault("controller", {}).update(metrics={"host": "127.0.0.1", "monitoring_networks": ["10.20.0.0/24"]}),
            ("controller.metrics", "controller.metrics.monitoring_networks cannot reach host 127.0.0.1 (loopback)"),
        ),
        (lambda d: d.setdefault("controller", {}).update(metrics={"monitoring_networks": ["10.20.0.5/24"]}), ("controller.metrics.monitoring_networks.0", "not a valid IPv4 network")),
        (lambda d: d["numbers"].update({"12345": {"kind": "main"}}), ("numbers.12345", "not a possible phone number")),
        (lambda d: d["organizations"]["12"]["employees"].update({"1": {"name": "x"}}), ("organizations.12.employees.1", "pattern")),
        (lambda d: d.update(timezone="Mars/Olympus"), ("timezone", "unknown time zone")),
        (lambda d: d["organizations"]["12"]["employees"].update({"1٠1": {"name": "x"}}), ("organizations.12.employees.1٠1", "pattern")),
        (
            lambda d: d.update(tariffs={"hotline_origins": [
                {"origin": "A", "prefixes": ["7495"], "rate": "2"},
                {"origin": "B", "prefixes": ["7490-5"], "rate": "3"},
            ]}),
            ("tariffs", "prefix 7495 is priced by both 'A' and 'B'"),
        ),
        (
            lambda d: d["organizations"]["12"]["employees"]["101"]["forwarding"].update(busy="phone:102"),
            ("organizations.12.employees.101.forwarding.busy", "unknown target kind 'phone'"),
        ),
        (
            lambda d: d["organizations"]["12"]["incoming"][0].pop("after_hours"),
            ("organizations.12.incoming.0", "after_hours must say where"),
        ),
        (lambda d: d["freeswitch"].update(rtp_start_port=40000), ("freeswitch", "must be below rtp_end_port")),
        (lambda d: d.update(recordings={"http": {"url_seconds": 3600}, "url_secret": "s" * 32}), ("recordings.http.public_url", "required")),
        (lambda d: d.update(recordings={"http": {"public_url": "pbx:8095"}, "url_secret": "s" * 32}), ("recordings.http.public_url", "pattern")),
        (lambda d: d.update(recordings={"http": {"public_url": "https://pbx.example"}}), ("recordings", "url_secret (32 characters or more) must be set")),
    ],
    ids=lambda v: v[0] if isinstance(v, tuple) else None,
)
def test_structural_errors_name_the_field(tmp_path, lab_secrets, mutate, expected):
    def with_esl(data):
        data.setdefault("esl", {})
        mutate(data)

    path, reason = expected
    problems = problems_of(write_site(tmp_path, with_esl))
    assert any(p == path and reason in r for p, r in problems), problems


@pytest.mark.parametrize("password", ["ClueCon", "cluecon", "1234"])
def test_well_known_esl_passwords_are_refused(lab_site_copy, monkeypatch, password):
    monkeypatch.setenv("BIZPBX_ESL__PASSWORD", password)
    problems = problems_of(lab_site_copy)
    assert ("esl.password", "a well-known default password is refused; set a secret of your own") in problems


def test_missing_secrets_are_required(tmp_path, monkeypatch):
    monkeypatch.delenv("BIZPBX_ESL__PASSWORD", raising=False)
    monkeypatch.delenv("BIZPBX_TRUNKS__CARRIER__PASSWORD", raising=False)
    problems = problems_of(write_site(tmp_path))
    assert ("esl.password", "required: put it in site.secrets.yml beside the site file, or set BIZPBX_ESL__PASSWORD") in problems
    assert (
        "trunks.carrier.password",
        "required (auth is registration): put it in site.secrets.yml beside the site file, or set BIZPBX_TRUNKS__CARRIER__PASSWORD",
    ) in problems


def test_employee_password_1234_is_refused(tmp_path, lab_secrets):
    def weak(data):
        data["organizations"]["12"]["employees"]["100"]["password"] = "1234"

    assert any(p == "organizations.12.employees.100.password" for p, _ in problems_of(write_site(tmp_path, weak)))


def test_cross_field_rules_are_all_reported_at_once(tmp_path, lab_secrets):
    def broken(data):
        org = data["organizations"]["12"]
        org["owner"] = "199"
        org["employees"]["101"]["forwarding"]["busy"] = "extension:109"
        org["employees"]["101"]["forwarding"]["unconditional"] = "extension:102"
        org["employees"]["102"]["forwarding"]["unconditional"] = "extension:101"
        org["ring_groups"]["sales"]["members"] = ["101", "105"]
        org["ring_groups"]["sales"]["extension"] = "101"
        org["ivr_menus"]["main"]["options"]["3"] = "ivr:nowhere"
        org["ivr_menus"]["main"]["options"]["4"] = "voicemail:101"
        data["numbers"]["+78005553535"]["organization"] = "99"
        data["organizations"]["7"]["employees"]["300"]["forwarding"] = {"busy": "number:+79161234567"}
        data["organizations"]["123"] = {"name": "Prefix clash", "owner": "10", "employees": {"10": {"name": "a"}}}

    problems = problems_of(write_site(tmp_path, broken))
    expected = [
        ("organizations.12.owner", "199 is not an employee of this organization"),
        ("organizations.12.employees.101.forwarding.busy", "no employee with extension 109"),
        ("organizations.12.ring_groups.sales.members.1", "105 is not an employee"),
        ("organizations.12.ring_groups.sales.extension", "101 is already used"),
        ("organizations.12.ivr_menus.main.options.3", "no IVR menu 'nowhere'"),
        ("organizations.12.ivr_menus.main.options.4", "voicemail of 101 is not enabled"),
        ("numbers.+78005553535.organization", "unknown organization '99'"),
        (
            "organizations.7.employees.300.forwarding.busy",
            "the organization has no telephony plan (profi or vip): only internal calls",
        ),
        ("organizations.123", "ID 123 begins with ID 12: callers could never reach 123"),
        ("organizations.12", "forwarding loop: extension:101 → extension:102 → extension:101"),
    ]
    for problem in expected:
        assert problem in problems, (problem, problems)


def test_numbers_must_be_delivered_and_priced(tmp_path, lab_secrets):
    def unpriced(data):
        data["numbers"]["+73833334455"] = {"kind": "individual", "organization": "12"}
        data["numbers"]["+74951112233"] = {"kind": "hotline", "organization": "12"}
        data["trunks"]["carrier"]["numbers"].append("+74957654321")

    problems = problems_of(write_site(tmp_path, unpriced))
    assert ("numbers.+73833334455", "no connection fee for area code 383; add it to tariffs.individual_connection_fees") in problems
    assert ("numbers.+73833334455", "no trunk delivers this number; list it in a trunk's numbers") in problems
    assert ("numbers.+74951112233", "a hotline number is an 8-800 number (+7800…)") in problems
    assert ("numbers.+74951112233.plan", "plan 'prosto' applies to individual, not to a hotline number") not in problems
    assert ("trunks.carrier.numbers.3", "+74957654321 is not in numbers") in problems


def test_numbers_are_normalised_and_duplicates_refused(tmp_path, lab_secrets):
    def spelled_twice(data):
        data["numbers"]["8 (495) 123-45-67"] = {"kind": "individual", "organization": "12"}

    problems = problems_of(write_site(tmp_path, spelled_twice))
    assert any(p == "numbers" and "are the same number +74951234567" in r for p, r in problems), problems


def test_yaml_errors_give_the_line(tmp_path, lab_secrets):
    path = tmp_path / "site.yml"
    path.write_text("name: lab\ntrunks:\n  carrier: {proxy: x\n", encoding="utf-8")
    [(where, reason)] = problems_of(path)
    assert where.startswith("line ") and "not valid YAML" in reason
    path.write_text("name: lab\nname: other\n", encoding="utf-8")
    assert problems_of(path) == [("line 2, column 1", "not valid YAML: key 'name' given twice (first on line 1)")]


def test_rate_deck_errors_give_file_and_line(tmp_path, lab_secrets):
    path = write_site(tmp_path)
    (tmp_path / "rates.csv").write_text("prefix,rate\n7495,1.20\n79,abc\n", encoding="utf-8")
    assert problems_of(path) == [("trunks.carrier.rate_deck", f"{tmp_path / 'rates.csv'}:3: rate 'abc' is not a number")]
    (tmp_path / "rates.csv").write_text("prefix,rate\n7495,1.20\n7490-9,1.0\n", encoding="utf-8")
    [(_, reason)] = problems_of(path)
    assert reason == f"{tmp_path / 'rates.csv'}:3: prefix 7495 is already priced on line 2"


def test_rate_deck_expands_ranges(tmp_path, lab_secrets):
    path = write_site(tmp_path)
    (tmp_path / "rates.csv").write_text("prefix,rate,initial,subsequent\n783141-3,3.50,30,6\n", encoding="utf-8")
    rows = load_site(path).trunks["carrier"].rate_deck.rows
    assert [(r.prefix, r.rate, r.increments.initial, r.increments.subsequent, r.line) for r in rows] == [
        ("783141", Decimal("3.50"), 30, 6, 2),
        ("783142", Decimal("3.50"), 30, 6, 2),
        ("783143", Decimal("3.50"), 30, 6, 2),
    ]


def test_an_employee_removed_from_the_site_does_not_come_back_from_the_generated_passwords(lab_site_copy) -> None:
    """Found on the lab: an employee added, provisioned (a password generated), then removed made
    every later render fail with `organizations.12.employees.103.name: required`."""
    from bizpbx.site_loader import load_site

    original = lab_site_copy.read_text()
    anchor = '      "102":\n'
    lab_site_copy.write_text(original.replace(anchor, '      "103":\n        name: Новый Сотрудник\n' + anchor, 1))
    assert "103" in load_site(lab_site_copy, generate_missing_secrets=True).organizations["12"].employees
    lab_site_copy.write_text(original)
    site = load_site(lab_site_copy, generate_missing_secrets=True)
    assert "103" not in site.organizations["12"].employees
