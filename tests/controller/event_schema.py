"""docs/call-events.schema.json, and every call event a test makes held to it."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from jsonschema import Draft202012Validator

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "call-events.schema.json"
VALIDATOR = Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")), format_checker=Draft202012Validator.FORMAT_CHECKER)


def problems(body: dict) -> list[str]:
    """Why the event does not match the schema (nothing when it does)."""
    return [f"{body.get('id', body.get('event'))}: {error.json_path}: {error.message}" for error in VALIDATOR.iter_errors(body)]


def stored_events(directory: Path) -> dict[str, dict]:
    """key -> body of every event in the outboxes of the ledgers under `directory`
    (those written by controllers running in other processes)."""
    found = {}
    for ledger in directory.rglob("*.sqlite3"):
        with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as db:
            try:
                rows = db.execute("SELECT key, body FROM call_events").fetchall()
            except sqlite3.DatabaseError:
                continue  # not a ledger, or one without events yet
        found.update((key, json.loads(body)) for key, body in rows)
    return found
