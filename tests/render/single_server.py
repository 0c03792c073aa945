"""The single-server sites (inventory/example, inventory/lab) rendered with fixed secrets, so that
their trees can be compared byte for byte with the digests recorded before clusters existed
(`single_server_digests.json`; regenerate it with `python tests/render/single_server.py` only
for a change meant to alter single-server trees)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import yaml

from bizpbx.render import render_site
from bizpbx.site_loader import load_site

REPO = Path(__file__).resolve().parents[2]
SITES = {"example": REPO / "inventory/example", "lab": REPO / "inventory/lab"}
DIGESTS = Path(__file__).with_name("single_server_digests.json")


def _fixed_secrets(site_file: Path) -> dict:
    """A secret for everything that needs one, each derived from its place (the same on every run)."""
    data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    organizations = {
        org_id: {
            "employees": {
                ext: {"password": f"sip-{org_id}-{ext}-fixed", **({"voicemail": {"pin": f"{org_id}{ext}"[-6:].rjust(6, "9")}} if (employee.get("voicemail") or {}).get("enabled") else {})}
                for ext, employee in org["employees"].items()
            }
        }
        for org_id, org in data.get("organizations", {}).items()
    }
    return {
        "esl": {"password": "fixed-esl-password"},
        "trunks": {name: {"password": f"fixed-{name}-password"} for name in data["trunks"]},
        "organizations": organizations,
    }


def tree_digests(name: str, workdir: Path) -> dict[str, str]:
    """sha256 of each file of the site's rendered tree, by path."""
    source = SITES[name]
    target = workdir / name
    target.mkdir(parents=True)
    for path in source.glob("*"):
        if path.is_file() and path.suffix in (".yml", ".csv") and path.name not in ("hosts.yml", "site.secrets.yml", "site.sip-passwords.yml"):
            shutil.copy(path, target / path.name)
    (target / "site.secrets.yml").write_text(yaml.safe_dump(_fixed_secrets(target / "site.yml"), allow_unicode=True), encoding="utf-8")
    files = render_site(load_site(target / "site.yml"))
    return {path: hashlib.sha256(content).hexdigest() for path, content in sorted(files.items())}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        recorded = {name: tree_digests(name, Path(scratch)) for name in SITES}
    DIGESTS.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{DIGESTS}: {sum(map(len, recorded.values()))} files", file=sys.stderr)
