"""A text spoken into an 8 kHz mono 16-bit WAV, as the switch plays prompts at telephone rate.

espeak-ng speaks in the site's language, sox resamples; both write temporary files beside the
target, and only the finished file is renamed into place: a run that fails or is killed half-way
leaves no half-written prompt, which the switch would play (or `bizpbx sounds` take as there).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

ESPEAK_VOICES = {"ru": "ru", "en": "en-us"}


class SpeakError(RuntimeError):
    """A prompt could not be spoken: names the file and what failed."""


def speak(text: str, language: str, target: Path) -> None:
    # Readable by the switch's user whatever the umask of the run that creates them.
    for directory in reversed([parent for parent in target.parents if not parent.exists()]):
        directory.mkdir()
        directory.chmod(0o755)
    spoken, converted = (_temporary(target, suffix) for suffix in (".espeak.wav", ".wav"))
    try:
        _run(target, ["espeak-ng", "-v", ESPEAK_VOICES[language], "-w", str(spoken), "--", text])
        _run(target, ["sox", str(spoken), "-r", "8000", "-c", "1", "-b", "16", str(converted)])
        os.chmod(converted, 0o644)
        os.replace(converted, target)
    finally:
        for path in (spoken, converted):
            path.unlink(missing_ok=True)


def _temporary(target: Path, suffix: str) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    return Path(name)


def _run(target: Path, command: list[str]) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SpeakError(f"{target}: {command[0]} is not installed (Debian package {command[0]})") from None
    if result.returncode != 0:
        raise SpeakError(f"{target}: {command[0]} exited {result.returncode}: {result.stderr.strip()[-500:]}")
