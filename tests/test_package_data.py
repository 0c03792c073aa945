"""The package's data reaches it both ways bizpbx is installed: editable (the
source tree) and as a wheel (what the roles install on a server): the
renderer's templates and the default tariffs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bizpbx import render

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src/bizpbx"


def _templates() -> set[str]:
    return {p.relative_to(PACKAGE / "render/templates").as_posix() for p in (PACKAGE / "render/templates").rglob("*.j2")}


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("bizpbx-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_the_package_finds_the_repository_templates():
    assert render.TEMPLATES_DIR.is_dir()
    assert {p.relative_to(render.TEMPLATES_DIR).as_posix() for p in render.TEMPLATES_DIR.rglob("*.j2")} == _templates()


def test_every_template_is_in_the_wheel(wheel_names: set[str]):
    prefix = "bizpbx/render/templates/"
    assert {name.removeprefix(prefix) for name in wheel_names if name.startswith(prefix)} == _templates()


def test_the_default_tariffs_are_in_the_wheel(wheel_names: set[str]):
    assert "bizpbx/settings/default_tariffs.yml" in wheel_names
