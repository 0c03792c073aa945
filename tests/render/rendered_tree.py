"""Reading a rendered tree as FreeSWITCH would, and running the CLI."""

from __future__ import annotations

import glob
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

# The demo site as a cluster (the render tests' cluster_site_file): a proxy and two nodes.
PROXY, NODES = "10.233.0.10", {"pbx1": "10.233.0.11", "pbx2": "10.233.0.12"}


# The render command alone, as `bizpbx render` runs it: the test does not
# depend on every other subcommand importing cleanly.
_RENDER_COMMAND = (
    "import argparse, sys; from bizpbx.commands import render; "
    "parser = argparse.ArgumentParser(prog='bizpbx'); render.register(parser.add_subparsers()); "
    "args = parser.parse_args(sys.argv[1:]); sys.exit(args.handler(args))"
)


def bizpbx_render(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _RENDER_COMMAND, "render", *args], capture_output=True, text=True, check=False, env=env)


def parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def xml_files(tree: Path) -> list[Path]:
    return sorted(p for p in tree.rglob("*") if p.is_file())


def includes(path: Path) -> list[tuple[str, list[Path]]]:
    """Each X-PRE-PROCESS include of `path`, with the files its pattern
    matches (relative to the including file's directory, as FreeSWITCH's
    preprocessor resolves them)."""
    found = []
    for element in parse(path).iter("X-PRE-PROCESS"):
        if element.get("cmd") == "include":
            pattern = element.get("data")
            found.append((pattern, sorted(Path(p) for p in glob.glob(str(path.parent / pattern)))))
    return found


def settings(root: ET.Element) -> dict[str, str]:
    return {param.get("name"): param.get("value") for param in root.findall("param")}


def edit_site(site_file: Path, edit) -> Path:
    data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    edit(data)
    site_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return site_file
