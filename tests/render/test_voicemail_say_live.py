"""Proof, against a real FreeSWITCH 1.10, that bizpbx can speak every file voicemail plays.

The switch runs a site in each language (on loopback, as the other live tests), and its
`say_string` API says what voicemail says, over every value voicemail can say: message counts
and numbers 0..999, the keys of its menus, mailbox IDs and phone numbers spelled, and the date
and time of a message left at any of several times on each of the last 366 days. Each file the
say module answers with must be in bizpbx's vocabulary (bizpbx.say_texts), and each entry of the
vocabulary must be one the switch said (no dead entries). The phrases the switch was configured
with give the say types to sweep: a type voicemail starts using fails here, named.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from demo_site import lab_site_text
from local_net import answers
from local_switch import freeswitch_command, put_on_loopback, stop_switch
from test_live_freeswitch import EventSocket

from bizpbx.say_texts import SAY_TEXTS
from bizpbx.site_loader import load_site
from bizpbx.sounds import phrases_file
from bizpbx.voicemail_texts import VOICEMAIL_TEXTS
from bizpbx.voicemail_vocabulary import vocabulary_texts, voicemail_vocabulary

PREFIX = os.environ.get("FREESWITCH_PREFIX")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not PREFIX, reason="FREESWITCH_PREFIX is unset: point it at a FreeSWITCH 1.10 install prefix to ask its say modules"),
]

KEYS = [*"0123456789", "*", "#"]
NOW = datetime.now().astimezone()
# A message left at any of these times of day, on each of the last 366 days (today, yesterday,
# this week, earlier this year, last year: the date is said differently for each).
MESSAGE_TIMES = [
    int((NOW.replace(hour=hour, minute=minute, second=second) - timedelta(days=days)).timestamp())
    for days in range(366)
    for hour, minute, second in ((0, 0, 0), (1, 1, 1), (2, 2, 2), (4, 5, 11), (9, 30, 21), (11, 11, 22), (12, 0, 25), (13, 21, 59), (17, 45, 3), (21, 59, 14), (23, 58, 40))
]
SWEEP: dict[str, list[str]] = {
    "MESSAGES": [str(n) for n in range(1000)],  # mod_say_ru's message counts («одно сообщение»)
    "items": [str(n) for n in range(1000)],  # message numbers and counts, a greeting's number
    "name_spelled": [*KEYS, "100", "2001", "12-100", "79161234567", "+74951234567", "88005553535"],  # keys, boxes (their users too), callers
    "name_phonetic": KEYS,
    "current_date_time": [str(epoch) for epoch in MESSAGE_TIMES],
    "short_date_time": [str(epoch) for epoch in MESSAGE_TIMES],
}


@pytest.fixture(scope="module", params=["ru", "en"])
def switch(request, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, EventSocket]]:
    language = request.param
    work = tmp_path_factory.mktemp(f"say-{language}")
    (work / "rates.csv").write_bytes((Path(__file__).resolve().parents[2] / "inventory/lab/rates.csv").read_bytes())
    data = yaml.safe_load(lab_site_text())
    data["language"] = language
    put_on_loopback(data, work, Path(PREFIX))
    (work / "site.yml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BIZPBX_ESL__PASSWORD", "say-test-esl-secret")
        site = load_site(work / "site.yml", generate_missing_secrets=True)
    process = subprocess.Popen(freeswitch_command(site, work, Path(PREFIX)), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=work)
    try:
        deadline = time.monotonic() + 60
        while not answers(site.esl.port):
            assert process.poll() is None and time.monotonic() < deadline, f"FreeSWITCH did not come up ({process.returncode})"
            time.sleep(0.5)
        esl = EventSocket(site.esl.port, "say-test-esl-secret")
        try:
            yield language, phrases_file(site), esl
        finally:
            esl.close()
    finally:
        stop_switch(process)


def said(esl: EventSocket, language: str, say_type: str, value: str) -> list[str]:
    answer = esl.api(f"say_string {language} {language} {say_type} pronounced {value}")
    assert answer.startswith("file_string://"), f"say_string {language} {say_type} {value}: {answer}"
    return answer.removeprefix("file_string://").split("!")


def test_every_file_the_say_module_answers_for_voicemail_is_in_the_vocabulary(switch) -> None:
    language, phrases, esl = switch
    vocabulary = voicemail_vocabulary(phrases)
    unswept = vocabulary.say_types - SWEEP.keys()
    assert not unswept, f"{phrases}: voicemail says types this test does not sweep: {sorted(unswept)}"
    known = vocabulary_texts(language, vocabulary)
    unknown: dict[str, str] = {}
    heard: set[str] = set()
    for say_type in sorted(vocabulary.say_types):
        for value in SWEEP[say_type]:
            for sound in said(esl, language, say_type, value):
                heard.add(sound)
                if sound not in known:
                    unknown.setdefault(sound, f"{say_type} {value}")
    assert not unknown, f"{language}: files the switch says that bizpbx cannot speak (file: what said it): {unknown}"
    unheard = set(SAY_TEXTS[language]) - heard
    assert not unheard, f"{language}: bizpbx.say_texts entries voicemail never makes the switch say: {sorted(unheard)}"


def test_every_file_the_switch_s_voicemail_macros_play_has_a_text(switch) -> None:
    language, phrases, _ = switch
    plays = voicemail_vocabulary(phrases).plays
    assert "voicemail/vm-person.wav" in plays and "voicemail/vm-goodbye.wav" in plays
    untold = [sound for sound in plays if sound not in VOICEMAIL_TEXTS[language]]
    assert not untold, f"{phrases}: voicemail plays files bizpbx has no {language} text for: {untold}"
    unplayed = set(VOICEMAIL_TEXTS[language]) - set(plays)
    assert not unplayed, f"bizpbx.voicemail_texts has {language} entries {phrases} never plays: {sorted(unplayed)}"
