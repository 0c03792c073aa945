"""The demo site (inventory/lab/site.yml) as the tests take it."""

from __future__ import annotations

from pathlib import Path

LAB_SITE = Path(__file__).resolve().parents[1] / "inventory" / "lab" / "site.yml"

# The lab's CRM client is named with its token in the lab's site.secrets.yml. A copy for tests
# carries one in the site file itself, so that a test replacing the controller section drops it with
# it (from the environment it would come back as a client of every such site).
LAB_API_NETWORKS = "    crm_networks: [10.231.0.1/32]\n"
TEST_CRM_TOKEN = "test-crm-token-of-32-characters-or-more"


def lab_site_text() -> str:
    """The demo site's text, with its CRM client and the test token."""
    text = LAB_SITE.read_text(encoding="utf-8")
    assert LAB_API_NETWORKS in text, "the lab site's API section moved: update LAB_API_NETWORKS"
    return text.replace(LAB_API_NETWORKS, f"{LAB_API_NETWORKS}    clients:\n      crm: {{token: {TEST_CRM_TOKEN}}}\n")
