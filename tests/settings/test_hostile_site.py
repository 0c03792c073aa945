"""Hostile site files (issue 10): each is refused with the line at fault and
exit 2, never a traceback, an exhausted memory or a silently dropped entry."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_site_model import problems_of, write_site

from bizpbx.site_loader import MAX_ALIAS_NODES, load_site, secrets_path


def billion_laughs(levels: int = 9, fanout: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * fanout) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * fanout) + "]")
    return "\n".join(lines) + "\n"


def _limit_memory() -> None:  # in the child: a bomb must fail the test, not the machine
    resource.setrlimit(resource.RLIMIT_AS, (768 * 1024 * 1024, 768 * 1024 * 1024))


def validate(path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bizpbx.cli", "validate", str(path)],
        capture_output=True, text=True, check=False, timeout=timeout, preexec_fn=_limit_memory,
    )


def test_an_alias_bomb_is_refused_at_once_with_its_line(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text(billion_laughs(), encoding="utf-8")  # 9**9 strings from under 1 KB
    started = time.monotonic()
    result = validate(path)
    assert time.monotonic() - started < 20
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stderr
    assert f"not valid YAML: aliases expand the file by more than {MAX_ALIAS_NODES} values" in result.stderr
    assert "line 6, column 5" in result.stderr  # the first list whose aliases go over the budget


def test_a_few_aliases_are_still_fine(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text("a: &a {x: [1, 2, 3]}\nb: *a\nc: [*a, *a]\n", encoding="utf-8")
    from bizpbx.site_loader import read_yaml

    assert read_yaml(path) == {"a": {"x": [1, 2, 3]}, "b": {"x": [1, 2, 3]}, "c": [{"x": [1, 2, 3]}] * 2}


def test_an_alias_inside_itself_is_refused(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text("name: lab\ntrunks: &t [*t]\n", encoding="utf-8")
    assert problems_of(path) == [("line 2, column 9", "not valid YAML: an alias refers to a node that contains it")]


def test_nesting_is_bounded(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text("name: " + "[" * 200 + "]" * 200 + "\n", encoding="utf-8")
    [(where, reason)] = problems_of(path)
    assert where.startswith("line 1, column ") and reason == "not valid YAML: nested deeper than 64 levels"


def test_an_unhashable_key_is_an_error_not_a_traceback(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text("name: lab\n? [a, b]\n: 1\n", encoding="utf-8")
    assert problems_of(path) == [("line 2, column 3", "not valid YAML: a key must be a single value, not a list or a mapping")]
    result = validate(path)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_bytes_that_are_not_utf8_name_their_line_and_column(tmp_path):
    path = tmp_path / "site.yml"
    path.write_bytes(b"name: lab\norganizations:\n  '12': {name: \xcf\xf0\xee\xf1\xf2\xee\xe9}\n")  # cp1251
    assert problems_of(path) == [("line 3, column 16", "not UTF-8 text (byte 0xcf)")]
    result = validate(path)
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("name: lab\nclosed: 2026-13-45\n", "line 2, column 9", "cannot read this timestamp value: month must be in 1..12"),
        ("name: lab\nbig: " + "9" * 5000 + "\n", "line 2, column 6", "cannot read this int value: Exceeds the limit"),
    ],
)
def test_a_scalar_its_tag_cannot_read_is_an_error(tmp_path, text, where, reason):
    path = tmp_path / "site.yml"
    path.write_text(text, encoding="utf-8")
    [(found_where, found_reason)] = problems_of(path)
    assert found_where == where and found_reason.startswith(f"not valid YAML: {reason}")


def test_an_int_key_and_its_text_are_a_key_given_twice(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text(
        "name: lab\norganizations:\n  7:\n    name: Seven\n  \"7\":\n    name: Also seven\n", encoding="utf-8"
    )
    assert problems_of(path) == [("line 5, column 3", "not valid YAML: key '7' given twice (first on line 3)")]


def test_an_overlay_keyed_by_text_merges_into_an_int_key(tmp_path, monkeypatch, lab_secrets):
    # site.yml says 12: (an int to YAML), the secrets file '12': (text): one organization.
    path = write_site(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("'12':", "12:"), encoding="utf-8")
    assert "\n  12:\n" in path.read_text(encoding="utf-8")
    secrets_path(path).write_text("organizations: {'12': {employees: {'101': {password: chosen-by-admin}}}}\n", encoding="utf-8")
    site = load_site(path)
    org = site.organizations["12"]
    assert org.name == yaml.safe_load((Path(__file__).parents[2] / "inventory/lab/site.yml").read_text(encoding="utf-8"))["organizations"]["12"]["name"]
    assert org.employees["101"].password.get_secret_value() == "chosen-by-admin"
