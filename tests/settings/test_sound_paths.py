"""Sound names reach FreeSWITCH inside application arguments (issue 10):
`main_number.prompt: '${system(touch /tmp/x)}ivr/x.wav'` ran a command, and a
space shifted play_and_get_digits' arguments. Every sound of the model is a
safe relative path, refused otherwise with the path of the field."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from test_hostile_site import validate
from test_site_model import problems_of, write_site

from bizpbx.settings import fields as settings
from bizpbx.settings import IvrMenuSettings, MainNumber

# What FreeSWITCH expands or splits on in an application's arguments (and a
# shell in ${system()}), or what would leave the sounds directory.
HAZARDS = set(" \t\r\n\v\f$%{}()[]<>|&;,'\"`\\!^~*?@:=+#") | {"\x00"}

HOSTILE = [
    "${system(touch /tmp/x)}ivr/x.wav",
    "$${sound_prefix}/ivr/x.wav",
    "ivr/ivr welcome.wav",
    "ivr/x.wav bizpbx_org_id",
    "../../../etc/x.wav",
    "ivr/../../x.wav",
    "/usr/share/freeswitch/sounds/x.wav",
    "ivr/{x}.wav",
    "ivr/x.wav;hangup",
    "ivr/x.wav,ivr/y.wav",
    "tone_stream://%(100,0,800)",
    "say:hello",
    "ivr/x.wav\nbad",
    "ivr/ivr-welcome",
    "ivr/x.mp3",
    "ivr//x.wav",
    ".hidden/x.wav",
    "ivr/\u0456vr.wav",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "field",
    ["main_number.prompt", "main_number.invalid_prompt", "organizations.12.ivr_menus.main.greeting", "organizations.12.ivr_menus.main.invalid_sound"],
)
def test_an_unsafe_sound_is_refused_with_the_path_of_its_field(tmp_path, lab_secrets, field, value):
    def put(data):
        node = data
        *parents, last = field.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    problems = problems_of(write_site(tmp_path, put))
    assert [where for where, _ in problems] == [field], problems
    assert "is not a safe sound path" in problems[0][1]


def test_the_command_of_the_issue_is_refused_by_validate(tmp_path, lab_secrets):
    path = write_site(tmp_path, lambda data: data.setdefault("main_number", {}).update(prompt="${system(touch /tmp/x)}ivr/x.wav"))
    result = validate(path)
    assert result.returncode == 2
    assert "main_number.prompt: '${system(touch /tmp/x)}ivr/x.wav' is not a safe sound path" in result.stderr


@pytest.mark.parametrize("value", ["ivr/ivr-welcome.wav", "custom/acme_greeting-2.WAV", "digits/8000/0.wav", "x.wav", "ru/RU/elena/ivr/1.0.wav"])
def test_plain_sound_paths_are_accepted(value):
    assert MainNumber(prompt=value).prompt == value
    assert IvrMenuSettings(greeting=value, options={"1": "hangup"}).greeting == value


def test_the_defaults_are_safe():
    menu = IvrMenuSettings(greeting="ivr/ivr-welcome.wav", options={"1": "hangup"})
    for value in (MainNumber().prompt, MainNumber().invalid_prompt, menu.invalid_sound):
        assert settings.check_sound_path(value) == value


CHARACTERS = string.printable + "\u0456\u00a0\u2028\uff04"
# Mostly near-misses of a valid path: segments of any characters, a likely extension.
candidates = st.one_of(
    st.text(alphabet=CHARACTERS, max_size=40),
    st.builds(
        lambda segments, extension: "/".join(segments) + extension,
        st.lists(st.text(alphabet=st.sampled_from(CHARACTERS + "abc_-." * 8), min_size=1, max_size=8), min_size=1, max_size=4),
        st.sampled_from([".wav", ".WAV", ".mp3", "", ".wav ", "/.wav"]),
    ),
)


@given(candidates)
@example("${system(touch /tmp/x)}ivr/x.wav")
@example("ivr/x y.wav")
@example("ivr/..wav")
def test_no_accepted_sound_holds_an_expansion_or_a_separator(value):
    try:
        accepted = TypeAdapter(settings.SoundPath).validate_python(value)
    except ValidationError:
        return
    assert not HAZARDS & set(accepted), accepted
    assert accepted.isascii() and accepted.isprintable()
    assert ".." not in accepted and not accepted.startswith("/")
    assert accepted.lower().endswith(settings.SOUND_EXTENSIONS)
    # As play_and_get_digits reads its arguments: the sound is one of them, whole.
    arguments = f"1 1 3 5000 # {accepted} {accepted} var ^[12]$".split(" ")
    assert arguments[5] == arguments[6] == accepted and len(arguments) == 9
