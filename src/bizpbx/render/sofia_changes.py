"""What a re-rendered sofia.conf.xml asks of the running switch (for `bizpbx reload`).

`reloadxml` re-reads the XML but a running SIP profile keeps its gateways
and its settings: a new gateway appears with `sofia profile NAME rescan`; a
changed one (proxy, credentials, port) only after `sofia profile NAME killgw
GATEWAY` and a rescan; a profile's own settings (its address, port) only
when the switch restarts. So `bizpbx reload` keeps a fingerprint of what it
last applied, beside the tree (root only, 0600: the fingerprints are
SHA-256 of elements holding passwords), and compares. Pure but for reading
and writing that record.
"""

from __future__ import annotations

import hashlib
import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

SOFIA_CONF = Path("autoload_configs") / "sofia.conf.xml"
RECORD_MODE = 0o600


def loaded_path(conf_dir: Path) -> Path:
    return conf_dir.parent / f".{conf_dir.name}.loaded-sofia.json"


def _digest(element: ET.Element | None) -> str:
    return hashlib.sha256(b"" if element is None else ET.canonicalize(ET.tostring(element, encoding="unicode"), strip_text=True).encode()).hexdigest()


def fingerprints(conf: bytes) -> dict[str, dict]:
    """{profile: {"settings": digest, "gateways": {name: digest}}} of a sofia.conf.xml."""
    root = ET.fromstring(conf)
    return {
        profile.get("name", ""): {
            "settings": _digest(profile.find("settings")),
            "gateways": {gateway.get("name", ""): _digest(gateway) for gateway in profile.iterfind("gateways/gateway")},
        }
        for profile in root.iterfind("profiles/profile")
    }


@dataclass
class SofiaChanges:
    commands: list[str] = field(default_factory=list)  # API commands, in order
    restart_for: list[str] = field(default_factory=list)  # profiles whose settings changed


def changes(loaded: dict[str, dict] | None, rendered: dict[str, dict]) -> SofiaChanges:
    """What to run so the switch takes `rendered`, having loaded `loaded` (None: not known)."""
    plan = SofiaChanges()
    for profile, now in sorted(rendered.items()):
        before = (loaded or {}).get(profile)
        if before is None:
            plan.commands.append(f"sofia profile {profile} rescan")  # new to the record: rescan adds what is missing
            continue
        if before["settings"] != now["settings"]:
            plan.restart_for.append(profile)
        gone = [name for name, digest in sorted(before["gateways"].items()) if now["gateways"].get(name) != digest]
        plan.commands += [f"sofia profile {profile} killgw {name}" for name in gone]
        if gone or set(now["gateways"]) - set(before["gateways"]):
            plan.commands.append(f"sofia profile {profile} rescan")
    return plan


def read_loaded(conf_dir: Path) -> dict[str, dict] | None:
    try:
        return json.loads(loaded_path(conf_dir).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def record_loaded(conf_dir: Path, rendered: dict[str, dict]) -> None:
    path = loaded_path(conf_dir)
    staging = path.with_name(path.name + ".new")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, RECORD_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(rendered, handle, sort_keys=True)
    os.replace(staging, path)
