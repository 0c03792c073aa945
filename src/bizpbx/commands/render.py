"""`bizpbx render SITE --out DIR [--node NAME | --proxy] [--check] [--diff]`: write the site's
FreeSWITCH configuration tree, replacing DIR whole (files bizpbx does not render are removed).
With a cluster, `--node NAME` writes that node's tree and `--proxy` the SIP proxy's Kamailio
configuration.

When the event socket's configuration changes, the one it replaces (which the
running switch loaded, and keeps until mod_event_socket reloads) is kept beside
DIR, root only, for `bizpbx reload` (bizpbx.render.loaded_event_socket).

Exit status: 0 written or already up to date; 1 with --check when files would
change; 2 for an invalid site or a failed render (DIR is then left as it was);
3 with --check, run on the switch, when a sound the site uses is not there and
has no text to be spoken from (each named with its setting and path).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.render.file_tree import TreeError, changes, leftovers, recover, replace_tree, unified_diff
from bizpbx.render.loaded_event_socket import EVENT_SOCKET_CONF, keep_loaded
from bizpbx.render import RenderError, mask_proxy_secrets, mask_secrets, render_proxy, render_site
from bizpbx.site_loader import missing_secrets
from bizpbx.sounds import site_sounds

EXIT_WOULD_CHANGE = 1
EXIT_SOUND_MISSING = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="write the FreeSWITCH configuration of a site",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_site_argument(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="the configuration directory (e.g. /etc/freeswitch)")
    parser.add_argument("--check", action="store_true", help="write nothing; list what would change and exit 1 if anything would")
    parser.add_argument("--diff", action="store_true", help="also print a unified diff of the changes, secrets masked")
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--node", metavar="NAME", help="with a cluster: the configuration of this node (cluster.nodes.NAME)")
    part.add_argument("--proxy", action="store_true", help="with a cluster: the SIP proxy's Kamailio configuration")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # --check writes nothing, not even the passwords a render generates.
    site = load_or_report(args.site, generate_missing_secrets=not args.check)
    if site is None:
        return EXIT_INVALID
    target: Path = args.out
    if args.check:
        # Spoken into place at provision time when it has a text; without one, nothing can provide it.
        unprovided = [use for use in site_sounds(site) if use.found is None and use.text is None]
        for use in unprovided:
            print(f"{use.where}: {use.sound}: not on the switch (neither {use.paths[0]} nor {use.paths[-1]}) and no text in `prompts` to speak it", file=sys.stderr)
        if unprovided:
            return EXIT_SOUND_MISSING
    pending = missing_secrets(site)
    if pending:
        print(f"{len(pending)} SIP password(s)/PIN(s) are still to be generated: the first render stores them and writes {target}")
        return EXIT_WOULD_CHANGE
    try:
        if not args.check:
            # A render killed half-way left the previous tree aside, or a staging copy: tidy up first.
            for note in recover(target):
                print(note)
        files = render_proxy(site) if args.proxy else render_site(site, node=args.node)
        found = changes(target, files)
        if args.diff:
            sys.stdout.write(unified_diff(target, files, found, mask_proxy_secrets if args.proxy else mask_secrets))
        for change in found:
            print(change)
        if args.check:
            # Left by a render killed half-way (the previous tree, with its secrets): the next render removes them.
            stale = leftovers(target)
            for path in stale:
                print(f"leftover: {path} (of an interrupted render; the next render removes it)")
            found = found or [str(path) for path in stale]
        if found and not args.check:
            # Kept before the swap: killed in between, the copy is still the running one.
            kept = keep_loaded(target, files.get(EVENT_SOCKET_CONF))
            replace_tree(target, files)
            if kept is not None:
                print(f"{kept}: the event socket configuration the switch runs with, kept (root only) until `bizpbx reload` applies the new one")
    except (RenderError, TreeError, OSError) as error:
        print(f"{args.site}: render failed, {target} left as it was: {error}", file=sys.stderr)
        return EXIT_INVALID
    if not found:
        print(f"{target}: up to date")
        return 0
    if args.check:
        return EXIT_WOULD_CHANGE
    print(f"{target}: {len(found)} file(s) changed")
    return 0
