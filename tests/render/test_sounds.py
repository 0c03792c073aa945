"""`bizpbx sounds`: the site's prompts checked where the switch runs (a missing one ends calls silently)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bizpbx.site_loader import load_site
from bizpbx.sounds import site_sounds


def sounds(site_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bizpbx.cli", "sounds", str(site_file), *args], capture_output=True, text=True, check=False)


def with_switch_dirs(site_file: Path, root: Path) -> None:
    text = site_file.read_text().replace("freeswitch:\n", f"freeswitch:\n  sounds_dir: {root}/sounds\n  phrases_dir: {root}/lang\n", 1)
    site_file.write_text(text)


def test_every_missing_prompt_is_named_with_its_setting(lab_site_copy: Path, tmp_path: Path) -> None:
    with_switch_dirs(lab_site_copy, tmp_path)
    greeting = tmp_path / "sounds/en/us/callie/ivr/8000/ivr-welcome.wav"
    greeting.parent.mkdir(parents=True)
    greeting.write_bytes(b"RIFF")
    result = sounds(lab_site_copy)
    assert result.returncode == 1
    assert "main_number.prompt: ivr/ivr-please_enter_extension_followed_by_pound.wav: missing" in result.stdout
    assert "organizations.12.ivr_menus.support.greeting: ivr/ivr-please_hold.wav: missing" in result.stdout
    assert "ivr_menus.main.greeting" not in result.stdout  # found at 8 kHz
    assert f"freeswitch.phrases_dir: {tmp_path}/lang/en/en.xml missing" in result.stdout


def test_all_there_at_any_rate_or_as_named(lab_site_copy: Path, tmp_path: Path) -> None:
    with_switch_dirs(lab_site_copy, tmp_path)
    site = load_site(lab_site_copy)
    for i, use in enumerate(site_sounds(site)):
        path = use.paths[i % len(use.paths)]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")
    (tmp_path / "lang/en").mkdir(parents=True)
    (tmp_path / "lang/en/en.xml").write_text("<include/>")
    result = sounds(lab_site_copy)
    assert result.returncode == 0, result.stdout
    listed = json.loads(sounds(lab_site_copy, "--json").stdout)
    assert all(entry["found"] for entry in listed["sounds"]) and listed["phrases"]["found"]

