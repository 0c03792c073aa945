"""The demo site (inventory/lab/site.yml) as the tests take it."""

from __future__ import annotations

from pathlib import Path

LAB_SITE = Path(__file__).resolve().parents[1] / "inventory" / "lab" / "site.yml"

# The lab's CRM client takes its token from the lab's site.secrets.yml. A copy for tests carries
# one in the site file itself, so that a test replacing the controller section drops it with it
# (from the environment it would come back as a client of every such site).
LAB_CRM_CLIENT = "      crm: {}\n"
TEST_CRM_TOKEN = "test-crm-token-of-32-characters-or-more"


def lab_site_text() -> str:
    """The demo site's text, its CRM client with the test token."""
    text = LAB_SITE.read_text(encoding="utf-8")
    assert LAB_CRM_CLIENT in text, "the lab site's CRM client moved: update LAB_CRM_CLIENT"
    return text.replace(LAB_CRM_CLIENT, f"      crm: {{token: {TEST_CRM_TOKEN}}}\n")
