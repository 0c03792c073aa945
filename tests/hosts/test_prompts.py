"""What the switch says, on the converged pbx: every sound and phrase file the rendered
configuration references is there, and the lab's site (language ru by default) speaks Russian."""

from __future__ import annotations

import json
import re
import shlex

import pytest
import yaml

from .conftest import REPO

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("needs_freeswitch")]

BIZPBX = "/opt/bizpbx/venv/bin/bizpbx"
SITE = "/etc/bizpbx/site.yml"


@pytest.fixture(scope="module")
def sounds(pbx) -> dict:
    return json.loads(pbx.check_output(f"{BIZPBX} sounds {SITE} --json"))


def test_every_sound_and_the_phrases_the_site_uses_are_on_the_switch(pbx, sounds) -> None:
    missing = [f"{use['where']}: {use['sound']}" for use in sounds["sounds"] if not use["found"]]
    assert not missing, missing
    assert sounds["phrases"]["found"], sounds["phrases"]
    for use in sounds["sounds"]:
        assert pbx.file(use["found"]).is_file, use


def test_every_file_the_rendered_configuration_names_is_there(pbx, sounds) -> None:
    conf = pbx.file("/etc/freeswitch/vars.xml").content_string
    prefix = re.search(r'data="sound_prefix=([^"]+)"', conf)[1]
    assert prefix == sounds["voice_dir"] and pbx.file(prefix).is_directory
    top = pbx.file("/etc/freeswitch/freeswitch.xml").content_string
    for included in re.findall(r'cmd="include" data="(/[^"]+)"', top):
        assert pbx.file(included).exists, f"freeswitch.xml includes {included}, missing on pbx"


def test_the_lab_site_speaks_russian_by_default(pbx, sounds) -> None:
    site = yaml.safe_load((REPO / "inventory/lab/site.yml").read_text(encoding="utf-8"))
    assert "language" not in site, "the lab shows the default"
    assert sounds["language"] == "ru" and sounds["voice_dir"].endswith("/ru/RU/elena")
    assert 'data="default_language=ru"' in pbx.file("/etc/freeswitch/vars.xml").content_string
    assert '<load module="mod_say_ru"/>' in pbx.file("/etc/freeswitch/autoload_configs/modules.conf.xml").content_string


def test_the_main_numbers_prompt_is_its_russian_text_at_8_khz(pbx, sounds) -> None:
    prompt = next(use for use in sounds["sounds"] if use["where"] == "main_number.prompt")
    assert prompt["text"] == "Введите номер организации и нажмите решётку."
    assert "/ru/RU/elena/" in prompt["found"]
    assert pbx.check_output(f"soxi -r {shlex.quote(prompt['found'])}") == "8000"
    # espeak-ng speaks a text the same way every time, and sox only dithers the last bit: the text
    # spoken again matches the file on the switch but for that noise (another text would not).
    stored = shlex.quote(prompt["found"])
    again = pbx.run(
        f"set -e; t=$(mktemp --suffix=.wav); u=$(mktemp --suffix=.wav); espeak-ng -v ru -w $t -- {shlex.quote(prompt['text'])};"
        f" sox $t -r 8000 -c 1 -b 16 $u; soxi -s $u; soxi -s {stored};"
        f" sox -m -v 1 {stored} -v -1 $u -n stat 2>&1 | sed -n 's/^RMS *amplitude: *//p';"
        f" sox {stored} -n stat 2>&1 | sed -n 's/^RMS *amplitude: *//p'; rm -f $t $u"
    )
    assert again.rc == 0, again.stderr
    samples_again, samples_stored, difference, loudness = again.stdout.split()
    assert samples_again == samples_stored, "the main number's prompt is not as long as its Russian text spoken"
    assert float(difference) < float(loudness) / 50, f"the main number's prompt is not its Russian text spoken: {again.stdout}"


def test_voicemail_s_own_files_are_on_the_switch_in_russian_at_8_khz(pbx, sounds) -> None:
    """The lab's switch hung up 0.5 s into voicemail without voicemail/vm-person.wav: every file
    its phrase macros and mod_say_ru play must be there (spoken when no sound package gave it)."""
    where = f"voicemail (phrases {sounds['phrases']['path']})"
    voicemail = {use["sound"]: use for use in sounds["sounds"] if use["where"] == where}
    assert len(voicemail) > 100, f"the lab's site has voicemail: its files should be listed ({len(voicemail)})"
    missing = [sound for sound, use in voicemail.items() if not use["found"] or not pbx.file(use["found"]).is_file]
    assert not missing, missing
    for sound in ("voicemail/vm-person.wav", "voicemail/vm-goodbye.wav", "digits/1n.wav", "time/mon-10.wav"):
        found = voicemail[sound]["found"]
        assert "/ru/RU/elena/" in found, found
        assert pbx.check_output(f"soxi -r {shlex.quote(found)}") == "8000", found
    assert voicemail["voicemail/vm-goodbye.wav"]["text"] == "До свидания."
    again = pbx.run(f"{BIZPBX} sounds {SITE} --speak")
    assert again.rc == 0 and "spoke" not in again.stdout, "a converged switch has nothing left to speak"
