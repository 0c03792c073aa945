"""Benchmark (not a test): speak everything voicemail plays, as `bizpbx sounds --speak` does on a
switch without sound packages, in each language.

Prints per language the files spoken, the seconds it took, files per second and the seconds of
speech written. Reads voicemail's macros from $FREESWITCH_PREFIX/etc/freeswitch/lang (a source
build's) or /usr/share/freeswitch/lang; needs espeak-ng and sox.
Run: .venv/bin/python bench/speak_bench.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import wave
from pathlib import Path

from bizpbx.speak import speak
from bizpbx.voicemail_vocabulary import vocabulary_texts, voicemail_vocabulary


def phrases_dir() -> Path | None:
    prefix = os.environ.get("FREESWITCH_PREFIX")
    candidates = ([Path(prefix) / "etc/freeswitch/lang"] if prefix else []) + [Path("/usr/share/freeswitch/lang")]
    return next((path for path in candidates if (path / "ru/ru.xml").is_file()), None)


def main() -> int:
    lang = phrases_dir()
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if lang is None or missing:
        print(f"skipped: {'no FreeSWITCH phrases (set FREESWITCH_PREFIX)' if lang is None else ', '.join(missing) + ' not installed'}")
        return 0
    for language in ("ru", "en"):
        texts = vocabulary_texts(language, voicemail_vocabulary(lang / language / f"{language}.xml"))
        with tempfile.TemporaryDirectory() as work:
            started = time.perf_counter()
            for sound, text in texts.items():
                speak(text or sound, language, Path(work) / sound)
            took = time.perf_counter() - started
            speech = 0.0
            for sound in texts:
                with wave.open(str(Path(work) / sound)) as spoken:
                    speech += spoken.getnframes() / spoken.getframerate()
        print(f"{language}: {len(texts)} files spoken in {took:.2f} s ({len(texts) / took:.0f} files/s), {speech:.0f} s of speech at 8 kHz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
