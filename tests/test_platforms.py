"""The Debian releases bizpbx claims are the ones preflight lets through, and every release's
refusals name a method that exists (issue 11: meta/main.yml says what is supported, and it is true)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parents[1] / "roles"
# The roles a production server runs (kamailio and sipp are the lab's provider and phones).
SERVER_ROLES = ("preflight", "bizpbx", "freeswitch", "firewall", "fail2ban")


def platforms(role: str) -> set[str]:
    meta = yaml.safe_load((ROLES / role / "meta/main.yml").read_text(encoding="utf-8"))
    return {version for platform in meta["galaxy_info"]["platforms"] if platform["name"] == "Debian" for version in platform["versions"]}


def preflight_defaults() -> dict:
    return yaml.safe_load((ROLES / "preflight/defaults/main.yml").read_text(encoding="utf-8"))


def test_preflight_lets_through_exactly_the_releases_the_server_roles_support() -> None:
    claimed = [platforms(role) for role in SERVER_ROLES]
    assert all(versions == claimed[0] for versions in claimed), dict(zip(SERVER_ROLES, claimed))
    assert set(preflight_defaults()["preflight__releases"]) == claimed[0]


def test_refusals_are_for_supported_releases_and_real_methods() -> None:
    defaults = preflight_defaults()
    methods = yaml.safe_load((ROLES / "freeswitch/meta/argument_specs.yml").read_text(encoding="utf-8"))
    choices = set(methods["argument_specs"]["main"]["options"]["freeswitch__install_method"]["choices"])
    for release, refused in defaults["preflight__method_refusals"].items():
        assert release in defaults["preflight__releases"], release
        assert set(refused) <= choices - {"none"}, refused
        assert all(reason.strip() for reason in refused.values())
