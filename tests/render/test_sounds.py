"""`bizpbx sounds`: the site's prompts checked where the switch runs (a missing one ends calls silently)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from bizpbx.site_loader import load_site
from bizpbx.sounds import site_sounds, voicemail_sounds


def sounds(site_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bizpbx.cli", "sounds", str(site_file), *args], capture_output=True, text=True, check=False)


def with_switch_dirs(site_file: Path, root: Path) -> None:
    text = site_file.read_text().replace("freeswitch:\n", f"freeswitch:\n  sounds_dir: {root}/sounds\n  phrases_dir: {root}/lang\n", 1)
    site_file.write_text(text)


def test_every_missing_prompt_is_named_with_its_setting(lab_site_copy: Path, tmp_path: Path) -> None:
    with_switch_dirs(lab_site_copy, tmp_path)
    greeting = tmp_path / "sounds/ru/RU/elena/ivr/8000/ivr-welcome.wav"
    greeting.parent.mkdir(parents=True)
    greeting.write_bytes(b"RIFF")
    result = sounds(lab_site_copy)
    assert result.returncode == 1
    assert "main_number.prompt: ivr/ivr-please_enter_extension_followed_by_pound.wav: missing" in result.stdout
    assert "organizations.12.ivr_menus.support.greeting: ivr/ivr-please_hold.wav: missing" in result.stdout
    assert "ivr_menus.main.greeting" not in result.stdout  # found at 8 kHz
    assert f"freeswitch.phrases_dir: {tmp_path}/lang/ru/ru.xml missing" in result.stdout


def test_all_there_at_any_rate_or_as_named(lab_site_copy: Path, tmp_path: Path) -> None:
    with_switch_dirs(lab_site_copy, tmp_path)
    site = load_site(lab_site_copy)
    (tmp_path / "lang/ru").mkdir(parents=True)
    (tmp_path / "lang/ru/ru.xml").write_text("<include/>")  # no macros: voicemail says only through the say module
    for i, use in enumerate(site_sounds(site) + voicemail_sounds(site)):
        path = use.paths[i % len(use.paths)]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")
    result = sounds(lab_site_copy)
    assert result.returncode == 0, result.stdout
    listed = json.loads(sounds(lab_site_copy, "--json").stdout)
    assert all(entry["found"] for entry in listed["sounds"]) and listed["phrases"]["found"]


def test_the_recording_notice_and_hold_music_are_read_from_the_language_s_voice(lab_site_copy: Path, tmp_path: Path) -> None:
    with_switch_dirs(lab_site_copy, tmp_path)
    data = yaml.safe_load(lab_site_copy.read_text(encoding="utf-8"))
    assert "recordings.notice" not in {use.where for use in site_sounds(load_site(lab_site_copy))}, "no organization announces recording"
    data["organizations"]["12"].update(recording={"calls": "all", "notice": True}, hold_music="music/company.wav")
    lab_site_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    uses = {use.where: use for use in site_sounds(load_site(lab_site_copy))}
    notice, music = uses["recordings.notice"], uses["organizations.12.hold_music"]
    assert notice.paths[-1] == tmp_path / "sounds/ru/RU/elena/bizpbx/recording-notice.wav"
    assert notice.text == "Внимание! Разговор записывается."
    assert (music.paths[-1], music.text) == (tmp_path / "sounds/ru/RU/elena/music/company.wav", None)  # music is provided, never spoken
    assert "freeswitch.hold_music" not in uses, "local_stream://moh is a stream, not a file"


def test_a_site_speaks_russian_by_default_and_english_when_told(lab_site_copy: Path, tmp_path: Path) -> None:
    with_switch_dirs(lab_site_copy, tmp_path)
    listed = json.loads(sounds(lab_site_copy, "--json").stdout)
    assert (listed["language"], listed["voice_dir"]) == ("ru", f"{tmp_path}/sounds/ru/RU/elena")
    main = next(entry for entry in listed["sounds"] if entry["where"] == "main_number.prompt")
    assert main["text"] == "Введите номер организации и нажмите решётку."
    assert main["paths"][0] == f"{tmp_path}/sounds/ru/RU/elena/ivr/8000/ivr-please_enter_extension_followed_by_pound.wav"
    lab_site_copy.write_text("language: en\n" + lab_site_copy.read_text())
    listed = json.loads(sounds(lab_site_copy, "--json").stdout)
    assert listed["voice_dir"] == f"{tmp_path}/sounds/en/us/callie" and listed["phrases"]["path"] == f"{tmp_path}/lang/en/en.xml"
    main = next(entry for entry in listed["sounds"] if entry["where"] == "main_number.prompt")
    assert main["text"] == "Please enter the organization number, followed by pound."


def test_the_site_file_gives_the_text_of_its_own_prompt(lab_site_copy: Path, tmp_path: Path) -> None:
    with_switch_dirs(lab_site_copy, tmp_path)
    text = lab_site_copy.read_text().replace("greeting: ivr/ivr-please_hold.wav", "greeting: company/support.wav")
    lab_site_copy.write_text(text + "prompts:\n  company/support.wav: Отдел поддержки, оставайтесь на линии.\n")
    listed = json.loads(sounds(lab_site_copy, "--json").stdout)
    support = next(entry for entry in listed["sounds"] if entry["where"] == "organizations.12.ivr_menus.support.greeting")
    assert (support["sound"], support["text"], support["found"]) == ("company/support.wav", "Отдел поддержки, оставайтесь на линии.", None)


def render_check(site_file: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bizpbx.cli", "render", str(site_file), "--out", str(out), "--check"], capture_output=True, text=True, check=False
    )


def test_render_check_names_a_prompt_neither_there_nor_speakable(lab_site_copy: Path, tmp_path: Path) -> None:
    with_switch_dirs(lab_site_copy, tmp_path)
    lab_site_copy.write_text(lab_site_copy.read_text().replace("greeting: ivr/ivr-please_hold.wav", "greeting: company/support.wav"))
    result = render_check(lab_site_copy, tmp_path / "conf")
    assert result.returncode == 3, result.stdout + result.stderr
    assert (
        "organizations.12.ivr_menus.support.greeting: company/support.wav: not on the switch "
        f"(neither {tmp_path}/sounds/ru/RU/elena/company/8000/support.wav nor {tmp_path}/sounds/ru/RU/elena/company/support.wav)"
    ) in result.stderr
    recorded = tmp_path / "sounds/ru/RU/elena/company/support.wav"
    recorded.parent.mkdir(parents=True)
    recorded.write_bytes(b"RIFF")
    assert render_check(lab_site_copy, tmp_path / "conf").returncode == 1  # found: only the tree is still to be written


def test_a_language_bizpbx_cannot_speak_is_refused_naming_the_setting(lab_site_copy: Path) -> None:
    lab_site_copy.write_text("language: de\n" + lab_site_copy.read_text())
    result = subprocess.run([sys.executable, "-m", "bizpbx.cli", "validate", str(lab_site_copy)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "language" in result.stderr and "'ru' or 'en'" in result.stderr, result.stderr
