"""Voicemail's files read from a phrases file: includes followed, templated names expanded with
mod_voicemail's arguments through the patterns that take them, and a file that cannot be read named."""

from __future__ import annotations

from pathlib import Path

import pytest
from phrases_tree import VOICEMAIL, phrases

from bizpbx.say_texts import SAY_TEXTS
from bizpbx.voicemail_vocabulary import PhrasesError, vocabulary_texts, voicemail_vocabulary


def test_the_files_voicemail_s_macros_play_through_the_includes(tmp_path: Path) -> None:
    vocabulary = voicemail_vocabulary(phrases(tmp_path))
    assert vocabulary.plays == {
        "voicemail/vm-person.wav": "voicemail_play_greeting",
        # mod_voicemail's folders: a count of 1 takes the first input, 0 and 5 the second.
        "voicemail/vm-urgent-new.wav": "voicemail_message_count",
        "voicemail/vm-new.wav": "voicemail_message_count",
        "voicemail/vm-saved.wav": "voicemail_message_count",
        "voicemail/vm-urgent-newx.wav": "voicemail_message_count",
        "voicemail/vm-newx.wav": "voicemail_message_count",
        "voicemail/vm-savedx.wav": "voicemail_message_count",
    }, "not the demo's macros, the caller's own recording ($1) nor a tone"
    assert vocabulary.say_types == {"name_spelled", "MESSAGES"}


def test_the_vocabulary_gives_each_file_its_text_and_the_say_module_s(tmp_path: Path) -> None:
    texts = vocabulary_texts("ru", voicemail_vocabulary(phrases(tmp_path)))
    assert texts["voicemail/vm-person.wav"] == "Абонент" and texts["voicemail/vm-newx.wav"] == "новых"
    assert texts["digits/1n.wav"] == "одно" and set(SAY_TEXTS["ru"]) <= set(texts)
    unknown = phrases(tmp_path, VOICEMAIL.replace("vm-person.wav", "vm-company_greeting.wav"))
    assert vocabulary_texts("ru", voicemail_vocabulary(unknown))["voicemail/vm-company_greeting.wav"] is None


def test_a_templated_name_in_a_macro_mod_voicemail_gives_no_known_arguments_is_refused(tmp_path: Path) -> None:
    templated = VOICEMAIL.replace("voicemail_play_greeting", "voicemail_hello").replace("vm-person.wav", "vm-$1.wav")
    with pytest.raises(PhrasesError, match=r"ru\.xml: macro voicemail_hello plays 'voicemail/vm-\$1\.wav', templated"):
        voicemail_vocabulary(phrases(tmp_path, templated))


def test_a_missing_included_file_is_named_with_the_file_that_includes_it(tmp_path: Path) -> None:
    top = phrases(tmp_path)
    (tmp_path / "vm/sounds.xml").unlink()
    with pytest.raises(PhrasesError, match=f"{top}: includes {tmp_path}/vm/sounds.xml: no such file"):
        voicemail_vocabulary(top)


def test_a_broken_file_is_named_with_its_line(tmp_path: Path) -> None:
    top = phrases(tmp_path, VOICEMAIL.replace("</macro>", "</macr>", 1))
    with pytest.raises(PhrasesError, match=f"{tmp_path}/vm/sounds.xml: line 9: not XML"):
        voicemail_vocabulary(top)


def test_a_file_including_itself_is_refused(tmp_path: Path) -> None:
    top = phrases(tmp_path)
    (tmp_path / "vm/sounds.xml").write_text('<include><X-PRE-PROCESS cmd="include" data="sounds.xml"/></include>')
    with pytest.raises(PhrasesError, match="included in itself"):
        voicemail_vocabulary(top)
