"""Fixtures: the demo site rendered, and the demo site as a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rendered_tree import NODES, PROXY, bizpbx_render

from bizpbx.render import render_site
from bizpbx.site_loader import load_site


@pytest.fixture
def lab_site(lab_site_copy: Path):
    """The demo site, loaded with its SIP passwords generated (as render does)."""
    return load_site(lab_site_copy, generate_missing_secrets=True)


@pytest.fixture
def rendered(lab_site_copy: Path, tmp_path: Path) -> Path:
    """The demo site rendered by the CLI into a fresh directory."""
    out = tmp_path / "freeswitch"
    result = bizpbx_render(str(lab_site_copy), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def render_files(lab_site):
    return render_site(lab_site)


@pytest.fixture
def cluster_site_file(lab_site_copy: Path) -> Path:
    data = yaml.safe_load(lab_site_copy.read_text(encoding="utf-8"))
    data["cluster"] = {"proxy": {"address": PROXY}, "nodes": {name: {"address": address} for name, address in NODES.items()}}
    data["freeswitch"].pop("tls")  # the lab's phones over TLS: a cluster's proxy takes UDP and TCP only
    data["freeswitch"].pop("internal")  # each node listens on its own address
    data.setdefault("controller", {})["postgresql"] = {"dsn": "postgresql://bizpbx@10.233.0.40/bizpbx", "password": "database-password"}
    for org_id, org in data["organizations"].items():
        for ext, employee in org["employees"].items():
            employee["password"] = f"sip-password-{org_id}-{ext}"
            if (employee.get("voicemail") or {}).get("enabled"):
                employee["voicemail"]["pin"] = "582913"
    lab_site_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return lab_site_copy
