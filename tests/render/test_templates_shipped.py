"""The templates reach the package both ways bizpbx is installed: editable
(the source tree) and as a wheel (what the roles install on a server)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from bizpbx import render

REPO = Path(__file__).resolve().parents[2]
SOURCE_TEMPLATES = REPO / "src/bizpbx/render/templates"


def _templates() -> set[str]:
    return {p.relative_to(SOURCE_TEMPLATES).as_posix() for p in SOURCE_TEMPLATES.rglob("*.j2")}


def test_the_package_finds_the_repository_templates():
    assert render.TEMPLATES_DIR.is_dir()
    assert {p.relative_to(render.TEMPLATES_DIR).as_posix() for p in render.TEMPLATES_DIR.rglob("*.j2")} == _templates()


def test_every_template_is_in_the_wheel(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("bizpbx-*.whl")
    prefix = "bizpbx/render/templates/"
    shipped = {name.removeprefix(prefix) for name in zipfile.ZipFile(wheel).namelist() if name.startswith(prefix)}
    assert shipped == _templates()
