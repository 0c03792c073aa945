"""The sound files a site makes the switch play, and where the switch looks for each.

A prompt the switch cannot open is not an error to FreeSWITCH: `play_and_get_digits`
returns at once with no digits, so a main number whose prompt is missing hangs up every
caller (FREESWITCH-FACTS.md). So the files are checked where the switch runs, before
calls reach them: `bizpbx sounds SITE` (the role runs it after rendering).

A relative name is read under the `sound_prefix` the renderer sets (render/templates/vars.xml.j2),
first in the directory of the call's sample rate (`ivr/8000/x.wav`), then as named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bizpbx.routing.guard import SOUND_LIMIT, SOUND_REFUSED
from bizpbx.routing.graph import SOUND_INTERNAL_ONLY, SOUND_INVALID_NUMBER, SOUND_NOT_AVAILABLE
from bizpbx.settings import Site

VOICE = "en/us/callie"  # the sound_prefix under sounds_dir (render/templates/vars.xml.j2)
PHRASE_LANGUAGE = "en"  # the phrases voicemail speaks with (render/templates/freeswitch.xml.j2)
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

    @property
    def found(self) -> Path | None:
        return next((path for path in self.paths if path.is_file()), None)


def voice_dir(site: Site) -> Path:
    return site.freeswitch.sounds_dir / VOICE


def sound_paths(site: Site, sound: str) -> tuple[Path, ...]:
    named = voice_dir(site) / sound
    return (*(named.parent / str(rate) / named.name for rate in SAMPLE_RATES), named)


def phrases_file(site: Site) -> Path:
    return site.freeswitch.phrases_dir / PHRASE_LANGUAGE / f"{PHRASE_LANGUAGE}.xml"


def site_sounds(site: Site) -> list[SoundUse]:
    """Every sound file the site can make the switch play, with the setting that names it."""
    named = [("main_number.prompt", site.main_number.prompt), ("main_number.invalid_prompt", site.main_number.invalid_prompt)]
    for org_id, org in site.organizations.items():
        for name, menu in org.ivr_menus.items():
            named.append((f"organizations.{org_id}.ivr_menus.{name}.greeting", menu.greeting))
            named.append((f"organizations.{org_id}.ivr_menus.{name}.invalid_sound", menu.invalid_sound))
    named.append(("freeswitch.hold_music", site.freeswitch.hold_music))
    named += [(f"organizations.{org_id}.hold_music", org.hold_music) for org_id, org in site.organizations.items() if org.hold_music]
    named += [(f"built in: {purpose}", sound) for purpose, sound in BUILT_IN.items()]
    files = [(where, sound) for where, sound in named if "://" not in sound]  # local_stream:// and tone_stream:// are no files
    return [SoundUse(where, sound, sound_paths(site, sound)) for where, sound in files]
