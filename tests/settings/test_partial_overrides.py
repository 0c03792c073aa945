"""A value given in part (one field of a nested object, one entry of a table
with defaults), from the site file or the environment, keeps the rest of its
default (issue 10: `BIZPBX_CONTROLLER__METRICS__HOST` alone failed with
`port: required`; overriding one connection fee dropped every default fee)."""

from __future__ import annotations

from decimal import Decimal
from ipaddress import IPv4Address
from pathlib import Path

import pytest
import yaml

from bizpbx.site_loader import SiteError, load_site


def with_data(site_file: Path, change) -> Path:
    data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    change(data)
    site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return site_file


def test_one_field_of_a_listener_from_the_environment_keeps_the_default_port(lab_site_copy, monkeypatch):
    monkeypatch.setenv("BIZPBX_CONTROLLER__METRICS__HOST", "127.0.0.2")
    site = load_site(lab_site_copy)
    assert (site.controller.metrics.host, site.controller.metrics.port) == (IPv4Address("127.0.0.2"), 9464)


def test_one_field_of_a_listener_in_the_file_keeps_the_default_port(lab_site_copy):
    with_data(lab_site_copy, lambda d: d["controller"].update(metrics={"host": "127.0.0.3"}, api={"port": 8090}))
    site = load_site(lab_site_copy)
    assert (site.controller.metrics.host, site.controller.metrics.port) == (IPv4Address("127.0.0.3"), 9464)
    assert (site.controller.api.host, site.controller.api.port) == (IPv4Address("127.0.0.1"), 8090)


def test_the_socket_the_controller_no_longer_listens_on_is_an_unknown_setting(lab_site_copy):
    with_data(lab_site_copy, lambda d: d["controller"].update(socket={"port": 8084}))
    with pytest.raises(SiteError) as refused:
        load_site(lab_site_copy)
    assert ("controller.socket", "unknown setting") in refused.value.problems


def test_monitoring_networks_alone_open_the_metrics_listener_on_every_address(lab_site_copy, monkeypatch):
    monkeypatch.setenv("BIZPBX_CONTROLLER__METRICS__MONITORING_NETWORKS", '["10.20.0.0/24"]')
    metrics = load_site(lab_site_copy).controller.metrics
    assert (metrics.host, metrics.port, [str(n) for n in metrics.monitoring_networks]) == (IPv4Address("0.0.0.0"), 9464, ["10.20.0.0/24"])
    assert metrics.local_address == IPv4Address("127.0.0.1")  # where bizpbx status asks


def test_a_metrics_address_of_the_server_is_kept_with_monitoring_networks(lab_site_copy):
    with_data(lab_site_copy, lambda d: d["controller"].update(metrics={"host": "10.231.0.10", "monitoring_networks": ["10.20.0.0/24"]}))
    metrics = load_site(lab_site_copy).controller.metrics
    assert metrics.host == metrics.local_address == IPv4Address("10.231.0.10")


def test_one_field_of_a_sip_profile_keeps_its_default_port(lab_site_copy, monkeypatch):
    monkeypatch.setenv("BIZPBX_FREESWITCH__EXTERNAL__EXTERNAL_IP", "203.0.113.5")
    site = load_site(lab_site_copy)
    assert site.freeswitch.external.port == 5080 and str(site.freeswitch.external.external_ip) == "203.0.113.5"
    assert site.freeswitch.internal.port == 5060


def test_one_connection_fee_in_the_file_keeps_the_other_defaults(lab_site_copy):
    with_data(lab_site_copy, lambda d: d.setdefault("tariffs", {}).update(individual_connection_fees={383: "1500"}))
    fees = load_site(lab_site_copy).tariffs.individual_connection_fees
    assert fees["383"] == Decimal(1500)
    assert fees["495"] == Decimal(2500) and fees["843"] == Decimal(1000)


def test_one_connection_fee_from_the_environment_keeps_the_other_defaults(lab_site_copy, monkeypatch):
    monkeypatch.setenv("BIZPBX_TARIFFS__INDIVIDUAL_CONNECTION_FEES__383", "1500")
    monkeypatch.setenv("BIZPBX_TARIFFS__INDIVIDUAL_CONNECTION_FEES__495", "3000")
    fees = load_site(lab_site_copy).tariffs.individual_connection_fees
    assert fees["383"] == Decimal(1500) and fees["495"] == Decimal(3000) and fees["812"] == Decimal(1000)


def test_a_default_fee_set_to_null_is_removed(lab_site_copy):
    with_data(lab_site_copy, lambda d: d.setdefault("tariffs", {}).update(individual_connection_fees={812: None}))
    fees = load_site(lab_site_copy).tariffs.individual_connection_fees
    assert "812" not in fees and fees["495"] == Decimal(2500)


def test_removing_a_fee_a_number_needs_is_reported(lab_site_copy):
    with_data(lab_site_copy, lambda d: d.setdefault("tariffs", {}).update(individual_connection_fees={495: None}))
    with pytest.raises(SiteError) as caught:
        load_site(lab_site_copy)
    assert ("numbers.+74951234567", "no connection fee for area code 495; add it to tariffs.individual_connection_fees") in caught.value.problems


def test_one_field_of_a_default_plan_keeps_the_rest_of_it(lab_site_copy, monkeypatch):
    monkeypatch.setenv("BIZPBX_TARIFFS__PLANS__VIP__MONTHLY_FEE", "3100")
    plans = load_site(lab_site_copy).tariffs.plans
    assert plans["vip"].monthly_fee == Decimal(3100) and plans["vip"].title == "VIP" and plans["vip"].applies_to == "organization"
    assert set(plans) == {"prosto", "standard", "profi", "vip"}
