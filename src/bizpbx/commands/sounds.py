"""`bizpbx sounds SITE [--json] [--speak]`: the sound files the site plays, and whether the switch has each.

Run where the switch runs (the role does, after rendering). The files are the site's prompts,
bizpbx's own, and, when an employee has voicemail, every file voicemail's phrase macros and the
say module play. Exit 0 when every file and the phrases voicemail speaks with are there; 1,
naming each missing one with the setting (or phrases file) that uses it and the paths looked at,
when not. With --speak, every missing file that has a text is first spoken into place in the
site's language (8 kHz WAV, written whole or not at all), one line `spoke PATH` each; a file
already there, recorded or supplied by the admin, is never overwritten; exit 3 when one cannot
be spoken (named, with espeak-ng's or sox's error).
"""

from __future__ import annotations

import argparse
import json
import sys

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.settings import Site
from bizpbx.sounds import SoundUse, phrases_file, site_sounds, voice_dir, voicemail_sounds
from bizpbx.speak import SpeakError, speak
from bizpbx.voicemail_vocabulary import PhrasesError

EXIT_MISSING = 1
EXIT_SPEAK_FAILED = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sounds", help="check the site's prompts exist on the switch", description=__doc__)
    add_site_argument(parser)
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON object: every sound, found or not")
    output.add_argument("--speak", action="store_true", help="first speak every missing sound that has a text (espeak-ng, sox)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    phrases = phrases_file(site)
    try:
        uses = every_sound(site)
    except PhrasesError as error:
        print(f"freeswitch.phrases_dir: {error}", file=sys.stderr)
        return EXIT_MISSING
    if args.speak:
        try:
            speak_missing(site, uses)
        except SpeakError as error:
            print(f"cannot speak {error}", file=sys.stderr)
            return EXIT_SPEAK_FAILED
    missing = [use for use in uses if use.found is None]
    if args.json:
        print(json.dumps({
            "language": site.language,
            "voice_dir": str(voice_dir(site)),
            "sounds": [
                {"where": u.where, "sound": u.sound, "path": str(u.paths[0]), "paths": [str(p) for p in u.paths], "found": str(u.found) if u.found else None, "text": u.text}
                for u in uses
            ],
            "phrases": {"path": str(phrases), "found": phrases.is_file()},
        }, ensure_ascii=False, indent=2))
    else:
        for use in missing:
            print(f"{use.where}: {use.sound}: missing (neither {use.paths[0]} nor {use.paths[-1]}, nor at another sample rate)")
        if not phrases.is_file():
            print(f"freeswitch.phrases_dir: {phrases} missing (voicemail cannot speak without it)")
        if not missing and phrases.is_file():
            print(f"all {len(uses)} sound files and the phrases are there")
    return EXIT_MISSING if missing or not phrases.is_file() else 0


def every_sound(site: Site) -> list[SoundUse]:
    """The site's sounds, then voicemail's (unless the phrases file is missing: that is reported on its own)."""
    return site_sounds(site) + (voicemail_sounds(site) if phrases_file(site).is_file() else [])


def speak_missing(site: Site, uses: list[SoundUse]) -> None:
    # Several uses can name one file (a prompt in two menus): spoken once.
    for use in {use.sound: use for use in uses if use.found is None and use.text}.values():
        speak(use.text, site.language, use.paths[0])
        print(f"spoke {use.paths[0]}: {use.text}")
