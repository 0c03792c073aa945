"""The sound files a site makes the switch play, and where the switch looks for each.

A prompt the switch cannot open is not an error to FreeSWITCH: `play_and_get_digits`
returns at once with no digits, so a main number whose prompt is missing hangs up every
caller (FREESWITCH-FACTS.md). So the files are checked where the switch runs, before
calls reach them: `bizpbx sounds SITE` (the role runs it after rendering).

A relative name is read under the `sound_prefix` the renderer sets (templates/vars.xml.j2): the
voice directory of the site's language (`voice_dir`), first in the directory of the call's sample
rate (`ivr/8000/x.wav`), then as named. A missing sound with a text (the site's `prompts`, or
bizpbx's own in bizpbx.prompt_texts) is spoken into place at provision time. With voicemail,
the files its phrase macros play are checked and spoken the same way (bizpbx.voicemail_vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bizpbx.prompt_texts import PROMPT_TEXTS
from bizpbx.routing.guard import SOUND_LIMIT, SOUND_REFUSED
from bizpbx.routing.graph import SOUND_INTERNAL_ONLY, SOUND_INVALID_NUMBER, SOUND_NOT_AVAILABLE
from bizpbx.settings import Site
from bizpbx.voicemail_vocabulary import vocabulary_texts, voicemail_vocabulary

# Each language's voice directory under sounds_dir, as FreeSWITCH's sound packages lay them out
# (freeswitch-sounds-ru-RU-elena, freeswitch-sounds-en-us-callie) and its phrases expect.
VOICES = {"ru": "ru/RU/elena", "en": "en/us/callie"}
SAMPLE_RATES = (8000, 16000, 32000, 48000)
BUILT_IN = {
    "the toll-fraud guard's refusal": SOUND_REFUSED,
    "the toll-fraud guard's limit": SOUND_LIMIT,
    "a number that is not an extension": SOUND_INVALID_NUMBER,
    "an organization without a telephony plan": SOUND_INTERNAL_ONLY,
    "nobody available": SOUND_NOT_AVAILABLE,
}


@dataclass(frozen=True, slots=True)
class SoundUse:
    where: str  # the setting's path, or what the built-in sound is for
    sound: str  # as the site names it
    paths: tuple[Path, ...]  # where the switch looks, in order
    text: str | None  # spoken into place when missing (None: a file must be provided)

    @property
    def found(self) -> Path | None:
        return next((path for path in self.paths if path.is_file()), None)


def voice_dir(site: Site) -> Path:
    return site.freeswitch.sounds_dir / VOICES[site.language]


def sound_paths(site: Site, sound: str) -> tuple[Path, ...]:
    named = voice_dir(site) / sound
    return (*(named.parent / str(rate) / named.name for rate in SAMPLE_RATES), named)


def phrases_file(site: Site) -> Path:
    return site.freeswitch.phrases_dir / site.language / f"{site.language}.xml"


def prompt_text(site: Site, sound: str) -> str | None:
    return site.prompts.get(sound) or PROMPT_TEXTS[site.language].get(sound)


def site_sounds(site: Site) -> list[SoundUse]:
    """Every sound file the site can make the switch play, with the setting that names it."""
    named = [("main_number.prompt", site.main_number.prompt), ("main_number.invalid_prompt", site.main_number.invalid_prompt)]
    for org_id, org in site.organizations.items():
        for name, menu in org.ivr_menus.items():
            named.append((f"organizations.{org_id}.ivr_menus.{name}.greeting", menu.greeting))
            named.append((f"organizations.{org_id}.ivr_menus.{name}.invalid_sound", menu.invalid_sound))
    named.append(("freeswitch.hold_music", site.freeswitch.hold_music))
    named += [(f"organizations.{org_id}.hold_music", org.hold_music) for org_id, org in site.organizations.items() if org.hold_music]
    if any(org.recording.notice for org in site.organizations.values()):
        named.append(("recordings.notice", site.recordings.notice))
    named += [(f"built in: {purpose}", sound) for purpose, sound in BUILT_IN.items()]
    files = [(where, sound) for where, sound in named if "://" not in sound]  # local_stream:// and tone_stream:// are no files
    return [SoundUse(where, sound, sound_paths(site, sound), prompt_text(site, sound)) for where, sound in files]


def has_voicemail(site: Site) -> bool:
    return any(employee.voicemail.enabled for org in site.organizations.values() for employee in org.employees.values())


def voicemail_sounds(site: Site) -> list[SoundUse]:
    """Every file voicemail can play, read from the phrases file the site renders against (none
    when no employee has voicemail). Raises PhrasesError when that file cannot be read."""
    if not has_voicemail(site):
        return []
    phrases = phrases_file(site)
    where = f"voicemail (phrases {phrases})"
    texts = vocabulary_texts(site.language, voicemail_vocabulary(phrases))
    return [SoundUse(where, sound, sound_paths(site, sound), site.prompts.get(sound) or text) for sound, text in texts.items()]
