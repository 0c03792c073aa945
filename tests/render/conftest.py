"""Fixtures: the demo site rendered."""

from __future__ import annotations

from pathlib import Path

import pytest
from rendered_tree import bizpbx_render

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


