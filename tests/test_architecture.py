"""ARCHITECTURE.md's rules, held against the code: which part may import
which, no module over 400 lines, no two classes with the same name."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ARCHITECTURE = Path(__file__).resolve().parents[1] / "ARCHITECTURE.md"


def parts_table() -> dict[str, tuple[list[str], set[str]]]:
    """part -> (its module prefixes, the parts it may import), from ARCHITECTURE.md."""
    table = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("part", "---") or not cells[1].startswith("`"):
            continue
        modules = re.findall(r"`(bizpbx[\w.]*)`", cells[1])
        allowed = set() if cells[3].startswith("nothing") else {name.strip() for name in cells[3].split(",")}
        table[cells[0]] = (modules, allowed)
    return table


def part_of(module: str, table) -> str | None:
    best = None
    for part, (prefixes, _) in table.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[1])):
                best = (part, prefix)
    return best[0] if best else None


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.split(".")[0] in ("bizpbx", "bizpbx_lab")}


def test_the_table_covers_every_module():
    table = parts_table()
    assert {"numbers", "model", "routing", "esl", "controller", "lab"} <= set(table)
    unplaced = [name for name in modules() if name != "bizpbx" and part_of(name, table) is None]
    assert not unplaced, f"modules in no part of ARCHITECTURE.md: {unplaced}"


def test_every_import_is_one_the_architecture_allows():
    table = parts_table()
    everything_above = set(table) - {"commands", "lab"}
    wrong = []
    for name, path in modules().items():
        here = part_of(name, table)
        if here is None:
            continue
        allowed = everything_above if table[here][1] == {"everything above"} else table[here][1]
        for imported in imports(path):
            there = part_of(imported, table)
            if imported in ("bizpbx", "bizpbx.__version__") or there in (None, here) or there in allowed:
                continue
            wrong.append(f"{name} ({here}) imports {imported} ({there})")
    assert not wrong, "\n".join(wrong)


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long


def test_no_two_classes_share_a_name():
    where = defaultdict(list)
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(name)
    assert not {cls: places for cls, places in where.items() if len(places) > 1}
