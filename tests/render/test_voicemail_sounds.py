"""`bizpbx sounds` with voicemail: its files named where the phrases name them, and `--speak`
speaking every missing file that has a text (a real espeak-ng and sox), whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from phrases_tree import VOICEMAIL, phrases

from bizpbx.speak import SpeakError, speak


def sounds(site_file: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bizpbx.cli", "sounds", str(site_file), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)


@pytest.fixture
def site_file(lab_site_copy: Path, tmp_path: Path) -> Path:
    """The demo site (its employee 12-100 has voicemail) on a switch whose phrases are a small tree."""
    text = lab_site_copy.read_text()
    lab_site_copy.write_text(text.replace("freeswitch:\n", f"freeswitch:\n  sounds_dir: {tmp_path}/sounds\n  phrases_dir: {tmp_path}/lang\n", 1))
    phrases(tmp_path / "lang/ru")
    return lab_site_copy


def needs_speech() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian packages espeak-ng, sox; .ci/run installs them)")


def test_voicemail_s_missing_files_are_named_with_the_phrases_that_play_them(site_file: Path, tmp_path: Path) -> None:
    result = sounds(site_file)
    assert result.returncode == 1
    voice = tmp_path / "sounds/ru/RU/elena"
    where = f"voicemail (phrases {tmp_path}/lang/ru/ru.xml)"
    assert f"{where}: voicemail/vm-person.wav: missing (neither {voice}/voicemail/8000/vm-person.wav nor {voice}/voicemail/vm-person.wav" in result.stdout
    assert f"{where}: voicemail/vm-savedx.wav: missing" in result.stdout  # a templated name, as mod_voicemail fills it
    assert f"{where}: digits/1n.wav: missing" in result.stdout  # the say module's «одно» (сообщение)
    listed = {entry["sound"]: entry for entry in json.loads(sounds(site_file, "--json").stdout)["sounds"] if entry["where"] == where}
    assert listed["voicemail/vm-person.wav"]["text"] == "Абонент" and listed["time/mon-10.wav"]["text"] == "ноября"
    assert listed["voicemail/vm-person.wav"]["path"] == f"{voice}/voicemail/8000/vm-person.wav"


def test_no_voicemail_no_voicemail_sounds(site_file: Path) -> None:
    text = site_file.read_text(encoding="utf-8").replace("voicemail: {enabled: true", "voicemail: {enabled: false")
    site_file.write_text(text.replace("voicemail:100", "hangup"), encoding="utf-8")  # targets need a box
    result = sounds(site_file)
    assert result.returncode == 1 and "main_number.prompt" in result.stdout, result.stdout + result.stderr
    assert "voicemail (" not in result.stdout


def test_an_unreadable_phrases_file_is_named_with_its_line(site_file: Path, tmp_path: Path) -> None:
    (tmp_path / "lang/ru/vm/sounds.xml").write_text(VOICEMAIL.replace("</macro>", "</macr>", 1))
    result = sounds(site_file)
    assert result.returncode == 1
    assert f"freeswitch.phrases_dir: {tmp_path}/lang/ru/vm/sounds.xml: line 9: not XML" in result.stderr


def test_speak_says_every_missing_sound_once_and_a_second_run_nothing(site_file: Path, tmp_path: Path) -> None:
    needs_speech()
    voice = tmp_path / "sounds/ru/RU/elena"
    supplied = voice / "voicemail/vm-person.wav"  # recorded by the admin: never overwritten
    supplied.parent.mkdir(parents=True)
    supplied.write_bytes(b"RIFF the admin's recording")
    missing = {entry["path"] for entry in json.loads(sounds(site_file, "--json").stdout)["sounds"] if not entry["found"]}
    first = sounds(site_file, "--speak")
    assert first.returncode == 0, first.stdout + first.stderr
    spoken = [line.split(": ", 1)[0].removeprefix("spoke ") for line in first.stdout.splitlines() if line.startswith("spoke ")]
    assert sorted(spoken) == sorted(missing) and f"spoke {voice}/voicemail/8000/vm-newx.wav: новых" in first.stdout
    assert supplied.read_bytes() == b"RIFF the admin's recording" and not (voice / "voicemail/8000/vm-person.wav").exists()
    with wave.open(str(voice / "digits/8000/1n.wav")) as sound:
        assert (sound.getframerate(), sound.getnchannels(), sound.getsampwidth()) == (8000, 1, 2)
        assert sound.getnframes() > 8000 * 0.2, "«одно» spoken is more than a click"
    second = sounds(site_file, "--speak")
    assert second.returncode == 0 and "spoke" not in second.stdout and second.stdout.startswith("all ")


def test_a_failed_conversion_leaves_no_file_nor_its_temporary_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    needs_speech()
    # A sox that writes half its output, then fails, as one killed half-way would.
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "sox").write_text('#!/bin/sh\nfor last; do :; done\nprintf RIFF > "$last"\necho "sox FAIL formats: disk full" >&2\nexit 2\n')
    (tools / "sox").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    target = tmp_path / "sounds/voicemail/8000/vm-goodbye.wav"
    with pytest.raises(SpeakError, match=f"{target}: sox exited 2: sox FAIL formats: disk full"):
        speak("До свидания.", "ru", target)
    assert list(target.parent.iterdir()) == []


def test_a_missing_synthesizer_is_named_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    target = tmp_path / "sounds/voicemail/8000/vm-goodbye.wav"
    with pytest.raises(SpeakError, match="espeak-ng is not installed"):
        speak("До свидания.", "ru", target)
    assert list(target.parent.iterdir()) == []


def test_speak_that_cannot_run_says_why_exits_3_and_writes_nothing(site_file: Path, tmp_path: Path) -> None:
    result = sounds(site_file, "--speak", env={**os.environ, "PATH": str(tmp_path / "empty")})
    assert result.returncode == 3
    assert "cannot speak " in result.stderr and "espeak-ng is not installed (Debian package espeak-ng)" in result.stderr
    assert not any(path.is_file() for path in (tmp_path / "sounds").rglob("*"))
