"""`bizpbx sounds SITE [--json]`: the sound files the site plays, and whether the switch has each.

Run where the switch runs (the role does, after rendering). Exit 0 when every file and
the phrases voicemail speaks with are there; 1, naming each missing one with the setting
that uses it and the paths looked at, when not.
"""

from __future__ import annotations

import argparse
import json

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.sounds import phrases_file, site_sounds, voice_dir

EXIT_MISSING = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sounds", help="check the site's prompts exist on the switch", description=__doc__)
    add_site_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object: every sound, found or not")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    uses = site_sounds(site)
    phrases = phrases_file(site)
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
