"""Reading a site: the YAML file, its overlays, the environment, and the
SIP passwords generated for employees who have none.

Layers, later ones winning: ``site.yml`` ← ``site.sip-passwords.yml``
(generated, kept so that every render is the same) ← ``site.secrets.yml``
(the operator's secrets, e.g. written from ansible-vault) ← ``BIZPBX_*``
environment variables. The rate decks the site names are read here too, and
handed to the model, which reads no file.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource

from bizpbx.rate_deck_csv import read_rate_deck
from bizpbx.settings import READ_DECKS, SITE_DIR, RateDeck, Site, UnreadableDeck
from bizpbx.settings.rate_decks import deck_path
from bizpbx.site_rules import Problem, check_site


class SiteError(Exception):
    """A site that cannot be used; `problems` lists every `(path, reason)`."""

    def __init__(self, source: Path, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"{p}: {r}" for p, r in problems))


def secrets_path(site_path: Path) -> Path:
    return site_path.with_name(f"{site_path.stem}.secrets.yml")


def generated_path(site_path: Path) -> Path:
    return site_path.with_name(f"{site_path.stem}.sip-passwords.yml")


# libyaml's parser when PyYAML was built with it: a site of thousands of
# employees loads several times faster.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# YAML aliases let a few kilobytes stand for gigabytes (each alias repeats
# the whole node it names, and aliases nest). A site needs few: the nodes
# they add when expanded are capped, and so is the nesting.
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 64


def _key_text(key: Any) -> str:
    # A digit key that YAML read as an int (organization 12, extension 101)
    # names the same thing as its text.
    return str(key) if isinstance(key, int) and not isinstance(key, bool) else key


class _StrictLoader(_SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML's
    default keeps the last silently, hiding a typo'd override), also when the
    two spellings only become the same key once read (``7:`` and ``"7":``),
    and a key that is not a single value (``? [a, b]``). Digit keys come out
    as text. (Merge keys, which SafeLoader would flatten here, are refused
    before: see `_refuse_tag`.)"""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                name = _key_text(key)
                first = first_line.get(name)
            except TypeError:  # unhashable: a list or a mapping as a key
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a single value, not a list or a mapping", key_node.start_mark
                ) from None
            if first is not None:
                raise yaml.constructor.ConstructorError(None, None, f"key {name!r} given twice (first on line {first})", key_node.start_mark)
            first_line[name] = key_node.start_mark.line + 1
            mapping[name] = self.construct_object(value_node, deep=deep)
        return mapping


def _readable(construct: Any) -> Any:
    """A scalar constructor whose failure is a ConstructorError with the line:
    a date such as 2026-13-45, an integer of thousands of digits,
    `!!timestamp x` (AttributeError inside PyYAML), `!!bool x` (KeyError)."""

    def read(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (yaml.YAMLError, MemoryError, RecursionError):
            raise
        except Exception as error:  # noqa: BLE001 - PyYAML's constructors raise what they happen to
            if isinstance(error, (ValueError, OverflowError)):
                reason = str(error)
            else:
                shown = repr(node.value) if isinstance(node.value, str) and len(node.value) <= 40 else "it"
                reason = f"{shown} is not one"
            tag = node.tag.rpartition(":")[2]
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this {tag} value: {reason}", node.start_mark) from None

    return read


for _tag in ("int", "float", "bool", "null", "timestamp"):
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _readable(_SafeLoader.yaml_constructors[f"tag:yaml.org,2002:{_tag}"]))


# A site is plain data: scalars (text, numbers, booleans, dates, null), lists
# and mappings. Another tag (!!set, !!omap, !!binary, a merge key <<, !!map
# on a list) is refused before anything is built.
_YAML = "tag:yaml.org,2002:"
_TAGS = {
    yaml.ScalarNode: frozenset(_YAML + name for name in ("str", "int", "float", "bool", "null", "timestamp")),
    yaml.SequenceNode: frozenset({_YAML + "seq"}),
    yaml.MappingNode: frozenset({_YAML + "map"}),
}


def _refuse_tag(node: yaml.Node) -> None:
    if node.tag not in _TAGS.get(type(node), ()):
        kind = {yaml.ScalarNode: "a value", yaml.SequenceNode: "a list", yaml.MappingNode: "a mapping"}.get(type(node), "a node")
        tag = node.tag.replace(_YAML, "!!")
        what = "a merge key (<<)" if tag == "!!merge" else f"the tag {tag} on {kind}"
        raise yaml.constructor.ConstructorError(None, None, f"{what} is not used in a site file (plain values, lists and mappings only)", node.start_mark)


def _refuse_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it beyond MAX_ALIAS_NODES extra
    nodes, refer to themselves, or nest deeper than MAX_DEPTH, or that has a
    tag a site does not use, before any of it is built: one iterative walk
    over the composed nodes, each collection once. (An alias of a scalar
    adds one value per alias written, so only collections are counted.)"""
    scalar_tags, scalar = _TAGS[yaml.ScalarNode], yaml.ScalarNode
    size: dict[int, int] = {}  # collection -> values it stands for, expanded
    height: dict[int, int] = {}
    claimed: set[int] = set()  # collections already counted once under some parent
    on_path: set[int] = set()
    added = 0
    stack: list[tuple[yaml.Node, list[yaml.Node] | None]] = [(root, None)]
    while stack:
        node, children = stack.pop()
        key = id(node)
        if children is not None:  # every child is measured: measure the node
            on_path.discard(key)
            total, tallest = 1, 0
            for child in children:
                if type(child) is scalar:
                    total += 1
                    continue
                child_key = id(child)
                total += size[child_key]
                tallest = max(tallest, height[child_key])
                if child_key in claimed:
                    added += size[child_key]
                    if added > MAX_ALIAS_NODES:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"aliases expand the file by more than {MAX_ALIAS_NODES} values; write them out instead", node.start_mark
                        )
                claimed.add(child_key)
            size[key], height[key] = total, tallest + 1
            if tallest + 1 >= MAX_DEPTH:
                raise yaml.constructor.ConstructorError(None, None, f"nested deeper than {MAX_DEPTH} levels", node.start_mark)
            continue
        if type(node) is scalar:
            if node.tag not in scalar_tags:
                _refuse_tag(node)
            continue
        if key in size:
            continue
        if key in on_path:
            raise yaml.constructor.ConstructorError(None, None, "an alias refers to a node that contains it", node.start_mark)
        _refuse_tag(node)
        on_path.add(key)
        children = [child for pair in node.value for child in pair] if type(node) is yaml.MappingNode else node.value
        stack.append((node, children))
        stack.extend((child, None) for child in children if type(child) is scalar or id(child) not in size)


def _not_utf8(path: Path, data: bytes, error: UnicodeDecodeError) -> SiteError:
    line = data.count(b"\n", 0, error.start) + 1
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    return SiteError(path, [(f"line {line}, column {column}", f"not UTF-8 text (byte 0x{data[error.start]:02x})")])


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SiteError(path, [("(file)", f"cannot read {path}: {error.strerror}")]) from None
    return parse_yaml(data, path)


def parse_yaml(data: bytes, path: Path) -> dict[str, Any]:
    """The settings in a site file's bytes (`path` names it in errors); SiteError if unusable."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(path, data, error) from None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _refuse_expansion(node)
        document = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        reason = getattr(error, "problem", None) or str(error)
        raise SiteError(path, [(where, f"not valid YAML: {reason}")]) from None
    finally:
        loader.dispose()
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise SiteError(path, [("(file)", "the top level must be a mapping of settings")])
    return document


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _format_location(loc: tuple[Any, ...]) -> str:
    # Pydantic adds the validator's name for tagged unions and the like; the
    # user wants only the path through their file.
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith(("function-", "literal[", "lax-", "json-", "[key]")))]
    return ".".join(parts) or "(site)"


def _format_reason(error: dict[str, Any]) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return "required"
    if error["type"] == "extra_forbidden":
        return "unknown setting"
    return message


def load_site(path: Path, *, generate_missing_secrets: bool = False) -> Site:
    """Read and check a site; raise SiteError listing every problem.

    With `generate_missing_secrets`, employees without a SIP password (and
    voicemail boxes without a PIN) get one, stored atomically beside the site.
    """
    path = Path(path)
    data = read_yaml(path)
    if generated_path(path).exists():
        data = deep_merge(data, _still_employed(read_yaml(generated_path(path)), data))
    if secrets_path(path).exists():
        data = deep_merge(data, read_yaml(secrets_path(path)))
    site = site_from_data(data, path)
    if generate_missing_secrets and missing_secrets(site):
        _store_generated(path, site)
        return load_site(path)
    return site


def site_from_data(data: dict[str, Any], path: Path) -> Site:
    """The site the settings read from `path` (and its overlays) describe; SiteError listing every problem."""
    site = model_from_data(data, path)
    problems = check_site(site)
    if problems:
        raise SiteError(path, problems)
    return site


def model_from_data(data: dict[str, Any], path: Path) -> Site:
    """The model of those settings, its rate decks read, before the rules that span a site
    (`bizpbx.site_rules`); SiteError listing every problem."""
    site_dir = SITE_DIR.set(path.resolve().parent)
    try:
        decks = READ_DECKS.set(_read_decks(data))
        try:
            return Site(**data)
        except ValidationError as error:
            problems = [(_format_location(e["loc"]), _format_reason(e)) for e in error.errors()]
            raise SiteError(path, problems) from None
        finally:
            READ_DECKS.reset(decks)
    finally:
        SITE_DIR.reset(site_dir)


def _read_decks(data: dict[str, Any]) -> dict[Path, RateDeck | UnreadableDeck]:
    """Every rate deck the trunks name, in the files or the environment, read (or why not) by its
    resolved path. A value that is no path is left to the model to report at its field."""
    named = deep_merge(data, EnvSettingsSource(Site)())
    trunks = named.get("trunks")
    decks: dict[Path, RateDeck | UnreadableDeck] = {}
    for trunk in trunks.values() if isinstance(trunks, dict) else ():
        value = trunk.get("rate_deck") if isinstance(trunk, dict) else None
        if value is None:
            continue
        try:
            path = deck_path(value)
        except ValueError:
            continue
        if path not in decks:
            try:
                decks[path] = read_rate_deck(path)
            except ValueError as error:
                decks[path] = UnreadableDeck(str(error))
    return decks


def _still_employed(generated: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The generated secrets of employees the site still has: one removed from the site keeps its
    generated password in the file (it comes back with it), which must not bring it back half."""
    organizations = data.get("organizations") if isinstance(data.get("organizations"), dict) else {}
    kept = {}
    for org_id, org in (generated.get("organizations") or {}).items():
        present = (organizations.get(org_id) or {}).get("employees") if isinstance(organizations.get(org_id), dict) else None
        if isinstance(present, dict) and isinstance(org, dict):
            employees = {ext: secret for ext, secret in (org.get("employees") or {}).items() if ext in present}
            if employees:
                kept[org_id] = {"employees": employees}
    return {"organizations": kept} if kept else {}


def missing_secrets(site: Site) -> list[tuple[str, str, str]]:
    """(organization, extension, field) of every secret still to generate."""
    missing = []
    for org_id, org in site.organizations.items():
        for ext, employee in org.employees.items():
            if employee.password is None:
                missing.append((org_id, ext, "password"))
            if employee.voicemail.enabled and employee.voicemail.pin is None:
                missing.append((org_id, ext, "pin"))
    return missing


def _store_generated(site_path: Path, site: Site) -> None:
    store = generated_path(site_path)
    data = read_yaml(store) if store.exists() else {}
    for org_id, ext, field in missing_secrets(site):
        employee = data.setdefault("organizations", {}).setdefault(org_id, {}).setdefault("employees", {}).setdefault(ext, {})
        if field == "password":
            employee["password"] = secrets.token_urlsafe(18)
        else:
            employee.setdefault("voicemail", {})["pin"] = "".join(secrets.choice("0123456789") for _ in range(6))
    write_private(store, "# Generated by bizpbx: SIP passwords and voicemail PINs. Keep it; keep it private.\n" + yaml.safe_dump(data, sort_keys=True, allow_unicode=True))


def write_private(path: Path, text: str) -> None:
    """Write a secret file whole or not at all, readable by its owner only."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
