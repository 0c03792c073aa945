"""The demo site set up for controller tests: its ledger, CDR directory and
sockets in the test's own places."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from local_net import free_port

from bizpbx.site_loader import load_site


@pytest.fixture
def site(lab_site_copy: Path, tmp_path: Path):
    """build(change=None, **controller) -> the demo site with the test's ledger, ports and log directory."""

    def build(change=None, esl_port: int = 8021, webhooks: dict | None = None):
        data = yaml.safe_load(lab_site_copy.read_text(encoding="utf-8"))
        data["controller"] = {
            "ledger": str(tmp_path / "ledger.sqlite3"),
            "socket": {"port": free_port()},
            "metrics": {"port": free_port()},
            "webhooks": webhooks or {},
        }
        data["esl"] = {"port": esl_port}
        data["freeswitch"]["sip_domain"] = "pbx.lab"
        data["freeswitch"]["log_dir"] = str(tmp_path / "log")
        if change:
            change(data)
        lab_site_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return load_site(lab_site_copy)

    return build
