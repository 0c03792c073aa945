"""The sound files voicemail plays, read from the phrases file the switch is configured with.

mod_voicemail speaks only through FreeSWITCH's phrase macros (`voicemail_*` in
lang/<lang>/vm/sounds.xml, included from the phrases file the rendered configuration includes),
and a macro whose file is missing ends the call: the lab's switch hung up 0.5 s into voicemail
for want of `voicemail/vm-person.wav`. So the files are read from the switch's own macros,
not from a list of macro names: every `play-file` of every `voicemail_*` macro, the templated
ones (`voicemail/vm-$2x.wav`) expanded with the arguments mod_voicemail passes (MACRO_ARGUMENTS,
from v1.10.12's mod_voicemail.c) through the input patterns that would take them; and every
file the say module builds numbers, dates and keys from (bizpbx.say_texts), which the macros'
`say` actions produce.
"""

from __future__ import annotations

import glob
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from bizpbx.say_texts import SAY_TEXTS
from bizpbx.voicemail_texts import VOICEMAIL_TEXTS

MACRO_PREFIX = "voicemail_"
# What mod_voicemail.c passes to the macros whose files are templated (`vm-$1.wav`): the folder
# in the message count (`%d:urgent-new`, `%d:new`, `%d:saved`; counts that take every plural
# branch of a language's patterns), the message's kind before its number, the acknowledgements.
_COUNTS = (0, 1, 2, 5, 11, 21, 22, 25, 111)
MACRO_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "voicemail_message_count": tuple(f"{n}:{folder}" for folder in ("urgent-new", "new", "saved") for n in _COUNTS),
    "voicemail_say_message_number": ("new:1", "saved:1"),
    "voicemail_ack": ("too-small", "saved", "deleted", "emailed", "marked-urgent"),
}
_GROUP = re.compile(r"\$(\d)")


class PhrasesError(ValueError):
    """The phrases file cannot be read: names the file (and line) and what is wrong."""


@dataclass(frozen=True, slots=True)
class Vocabulary:
    plays: dict[str, str]  # file → the macro that plays it (the first, in the phrases' order)
    say_types: frozenset[str]  # the say types the macros use (the live test sweeps each)


def voicemail_vocabulary(phrases: Path) -> Vocabulary:
    plays: dict[str, str] = {}
    say_types: set[str] = set()
    for macro in _macros(phrases):
        name = macro.get("name", "")
        for given in macro.iter("input"):
            for action in given.iter("action"):
                data = action.get("data", "")
                if action.get("function") == "say":
                    say_types.add(action.get("type", ""))
                elif action.get("function") == "play-file" and "://" not in data and not _GROUP.fullmatch(data):
                    # A bare $N is the caller's own recording (a greeting, a name), not a prompt.
                    for played in _expand(phrases, name, given.get("pattern", ""), data):
                        plays.setdefault(played, name)
    return Vocabulary(plays, frozenset(say_types))


def vocabulary_texts(language: str, vocabulary: Vocabulary) -> dict[str, str | None]:
    """Every file voicemail can play in `language`, with its text (None: bizpbx has none)."""
    texts = VOICEMAIL_TEXTS[language]
    return {**{sound: texts.get(sound) for sound in vocabulary.plays}, **SAY_TEXTS[language]}


def _expand(phrases: Path, macro: str, pattern: str, data: str) -> list[str]:
    """`data` as played for each argument mod_voicemail gives `macro` that `pattern` takes."""
    if not _GROUP.search(data):
        return [data]
    if macro not in MACRO_ARGUMENTS:
        raise PhrasesError(f"{phrases}: macro {macro} plays {data!r}, templated with arguments bizpbx does not know")
    taken = (found for found in (re.search(pattern, argument) for argument in MACRO_ARGUMENTS[macro]) if found)
    return [_GROUP.sub(lambda group, found=found: found.group(int(group[1])) or "", data) for found in taken]


def _macros(phrases: Path) -> list[ET.Element]:
    return [element for element in _read(phrases, ()).iter("macro") if element.get("name", "").startswith(MACRO_PREFIX)]


def _read(path: Path, including: tuple[Path, ...]) -> ET.Element:
    """The file's root with each X-PRE-PROCESS include replaced by the included files' contents
    (a relative name is read beside the including file, a pattern as a glob, as FreeSWITCH does)."""
    where = f"{including[-1]}: includes {path}" if including else str(path)
    if path in including:
        raise PhrasesError(f"{where}: included in itself")
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise PhrasesError(f"{where}: no such file") from None
    except ET.ParseError as error:
        raise PhrasesError(f"{path}: line {error.position[0]}: not XML ({error})") from None
    for parent in list(root.iter()):
        for index, child in reversed(list(enumerate(parent))):
            if child.tag == "X-PRE-PROCESS" and child.get("cmd") == "include":
                pattern = path.parent / child.get("data", "")
                names = sorted(glob.glob(str(pattern))) if glob.has_magic(str(pattern)) else [str(pattern)]
                parent[index : index + 1] = [_read(Path(name), (*including, path)) for name in names]
    return root
