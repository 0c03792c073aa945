"""Neither FreeSWITCH's 1234 nor ClueCon anywhere in the output, whatever the
site's own secrets happen to be."""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bizpbx.render.file_tree import MASK
from bizpbx.render import render_site, secret_values
from bizpbx.site_loader import load_site

WELL_KNOWN = ("1234", "cluecon")


def _without_1234(site_file: Path) -> Path:
    # The demo site's numbers happen to contain 1234; give them other digits
    # so that any 1234 in the output can only come from the renderer.
    site_file.write_text(site_file.read_text(encoding="utf-8").replace("1234567", "7654329"), encoding="utf-8")
    return site_file


def _assert_clean(files: dict[str, bytes], secrets: set[str]) -> None:
    for path, content in files.items():
        text = content.decode("utf-8")
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        for word in WELL_KNOWN:
            assert word not in text.lower(), f"{path} contains {word}"


def test_demo_site_with_generated_secrets(lab_site_copy: Path):
    site = load_site(_without_1234(lab_site_copy), generate_missing_secrets=True)
    _assert_clean(render_site(site), secret_values(site))


secret_text = st.text(alphabet=string.ascii_letters + string.digits + "-_.!", min_size=12, max_size=40)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(esl=secret_text, trunk=secret_text, employee=secret_text.map(lambda s: "1234" + s))
def test_any_secrets(lab_site_copy: Path, monkeypatch, esl: str, trunk: str, employee: str):
    monkeypatch.setenv("BIZPBX_ESL__PASSWORD", esl)
    monkeypatch.setenv("BIZPBX_TRUNKS__CARRIER__PASSWORD", trunk)
    monkeypatch.setenv("BIZPBX_ORGANIZATIONS__12__EMPLOYEES__101__PASSWORD", employee)
    site = load_site(_without_1234(lab_site_copy), generate_missing_secrets=True)
    files = render_site(site)
    assert employee in files["directory/org-12.xml"].decode("utf-8"), "the site's own secret is rendered as it is"
    _assert_clean(files, secret_values(site))
