"""`bizpbx events dead|retry|skip SITE`: the webhooks' dead letters.

A dead letter is an event a webhook refused for good (a 4xx other than 408,
425, 429) or that kept failing for the webhook's `dead_letter_after_seconds`:
the controller set it aside so later events could flow.

- ``bizpbx events dead SITE [--webhook NAME] [--json]`` lists them;
- ``bizpbx events retry SITE [--webhook NAME] [ID ...]`` queues them (all of
  them without an ID) again: the webhook's delivery loop sends them, in order,
  before newer events;
- ``bizpbx events skip SITE [--webhook NAME] (ID ... | --all)`` forgets them.

An ID is the outbox number `dead` prints first, or the event's own ``id``.
The commands change the ledger only; a running controller picks the change
up within a second.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from bizpbx.commands._site import EXIT_INVALID, add_site_argument, load_or_report
from bizpbx.controller.outbox import DeadLetter, Outbox
from bizpbx.ledger.database import ledger_exists

ACTIONS = ("dead", "retry", "skip")
EXIT_NOT_FOUND = 1


def parser_for(action: str) -> argparse.ArgumentParser:
    helps = {"dead": "list the webhooks' dead letters", "retry": "queue dead letters again, in order", "skip": "forget dead letters"}
    parser = argparse.ArgumentParser(prog=f"bizpbx events {action}", description=f"{helps[action]}. " + __doc__.split("\n\n", 1)[1])
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_site_argument(parser)
    parser.add_argument("--webhook", metavar="NAME", help="only this webhook's dead letters")
    if action == "dead":
        parser.add_argument("--json", action="store_true", help="one JSON object a line, the event's body included")
    else:
        parser.add_argument("ids", nargs="*", metavar="ID", help="outbox number or event id" + (" (default: every dead letter)" if action == "retry" else ""))
    if action == "skip":
        parser.add_argument("--all", action="store_true", help="every dead letter (of --webhook, if given)")
    return parser


def run(action: str, argv: list[str]) -> int:
    args = parser_for(action).parse_args(argv)
    site = load_or_report(args.site)
    if site is None:
        return EXIT_INVALID
    path = site.controller.ledger_database
    if not ledger_exists(path):
        print(f"bizpbx events {action}: no ledger at {path} (controller.ledger): has the controller run yet?", file=sys.stderr)
        return EXIT_NOT_FOUND
    configured = site.controller.webhooks
    outbox = Outbox(path)
    try:
        letters = outbox.dead_letters(args.webhook)
        if args.webhook is not None and args.webhook not in configured and not letters:
            print(f"bizpbx events {action}: no webhook {args.webhook!r} in the site and no dead letters of it", file=sys.stderr)
            return EXIT_NOT_FOUND
        if action == "dead":
            for letter in letters:
                print(json.dumps(as_json(letter), ensure_ascii=False) if args.json else as_line(letter))
            if not letters and not args.json:
                print("no dead letters", file=sys.stderr)
            return 0
        if action == "skip" and not (args.ids or args.all):
            print("bizpbx events skip: give the IDs to forget, or --all", file=sys.stderr)
            return EXIT_INVALID
        if action == "retry":
            letters = [letter for letter in letters if letter.state == "dead"]
        chosen, unknown = select(letters, args.ids)
        if unknown:
            print(f"bizpbx events {action}: no dead letter {', '.join(unknown)} (bizpbx events dead {args.site} lists them); nothing changed", file=sys.stderr)
            return EXIT_NOT_FOUND
        if action == "retry":
            count = outbox.requeue(chosen)
            print(f"{count} dead letter(s) queued again; delivered in order before newer events")
            for name in sorted({letter.webhook for letter in chosen} - set(configured)):
                print(f"warning: webhook {name!r} is no longer in the site: nothing will deliver its events", file=sys.stderr)
        else:
            count = outbox.discard(chosen)
            print(f"{count} dead letter(s) forgotten")
        return 0
    finally:
        outbox.close()


def select(letters: list[DeadLetter], ids: list[str]) -> tuple[list[DeadLetter], list[str]]:
    """The letters the IDs name (every letter without IDs), and the IDs that name none."""
    if not ids:
        return letters, []
    chosen = [letter for letter in letters if str(letter.event.id) in ids or letter.event.data.get("id") in ids]
    named = {str(letter.event.id) for letter in chosen} | {letter.event.data.get("id") for letter in chosen}
    return chosen, [token for token in ids if token not in named]


def as_json(letter: DeadLetter) -> dict:
    return {
        "id": letter.event.id,
        "webhook": letter.webhook,
        "event": letter.event.name,
        "event_id": letter.event.data.get("id"),
        "call_uuid": letter.event.call_uuid,
        "state": letter.state,
        "attempts": letter.attempts,
        "reason": letter.reason,
        "dead_at": datetime.fromtimestamp(letter.dead_at, timezone.utc).isoformat(),
        "body": letter.event.data,
    }


def as_line(letter: DeadLetter) -> str:
    dead_at = datetime.fromtimestamp(letter.dead_at, timezone.utc).isoformat(timespec="seconds")
    state = "" if letter.state == "dead" else " [queued again]"
    return f"{letter.event.id}\t{letter.webhook}\t{letter.event.name}\t{letter.event.data.get('id')}\t{dead_at}\t{letter.attempts} attempt(s)\t{letter.reason}{state}"
