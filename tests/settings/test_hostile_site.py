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


# --- rate decks and prefix ranges ----------------------------------------------


def deck_problem(tmp_path: Path, deck: str | bytes) -> str:
    path = write_site(tmp_path)
    target = tmp_path / "rates.csv"
    target.write_bytes(deck if isinstance(deck, bytes) else deck.encode())
    [(where, reason)] = problems_of(path)
    assert where == "trunks.carrier.rate_deck"
    return reason.replace(f"{target}:", "rates.csv:")


def test_a_range_of_billions_is_refused_with_file_and_line(tmp_path, lab_secrets):
    path = write_site(tmp_path)
    (tmp_path / "rates.csv").write_text("prefix,rate\n7495,1.20\n1000000000-9999999999,0.50\n", encoding="utf-8")
    result = validate(path)  # under a memory limit: before, a MemoryError (or the machine's memory)
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert result.returncode == 2
    assert (
        f"trunks.carrier.rate_deck: {tmp_path / 'rates.csv'}:3: '1000000000-9999999999': the range spans 9000000000 prefixes,"
        " more than 10000; write their common prefix instead"
    ) in result.stderr.splitlines()


def test_a_deck_of_too_many_prefixes_is_refused(tmp_path, lab_secrets, monkeypatch):
    monkeypatch.setattr("bizpbx.rate_deck_csv.MAX_DECK_PREFIXES", 25)
    assert deck_problem(tmp_path, "prefix,rate\n7000-7009,1\n7010-7019,1\n7020-7029,1\n") == (
        "rates.csv:4: the deck stands for more than 25 prefixes"
    )


def test_a_hotline_range_of_billions_is_refused(tmp_path, lab_secrets):
    def huge_origin(data):
        data.setdefault("tariffs", {})["hotline_origins"] = [{"origin": "everywhere", "prefixes": ["70000000000-79999999999"], "rate": "1.00"}]

    path = write_site(tmp_path, huge_origin)
    result = validate(path)
    assert "Traceback" not in result.stderr and result.returncode == 2
    assert (
        "tariffs.hotline_origins.0.prefixes: '70000000000-79999999999': the range spans 10000000000 prefixes, more than 10000;"
        " write their common prefix instead"
    ) in result.stderr.splitlines()


def test_a_prefix_longer_than_any_number_is_refused(tmp_path, lab_secrets):
    assert deck_problem(tmp_path, "prefix,rate\n" + "7" * 4000 + ",1\n") == (
        f"rates.csv:2: {'7' * 40!r}…: a prefix has at most 15 digits (an E.164 number has no more)"
    )


def test_a_file_that_is_not_a_deck_is_never_quoted(tmp_path, lab_secrets):
    # rate_deck: ../../../../etc/passwd showed the file's first line.
    secret_file = tmp_path / "passwd"
    secret_file.write_text("root:x:0:0:Sup3rSecretHash:/root:/bin/bash\ndaemon:x:1:1\n", encoding="utf-8")
    path = write_site(tmp_path, lambda data: data["trunks"]["carrier"].update(rate_deck=f"../{tmp_path.name}/passwd"))
    result = validate(path)
    assert result.returncode == 2
    assert "Sup3rSecretHash" not in result.stderr and "daemon" not in result.stderr and "/bin/bash" not in result.stderr
    deck = tmp_path / ".." / tmp_path.name / "passwd"
    assert f"trunks.carrier.rate_deck: {deck}:1: not a rate deck: the first line must be a header starting with prefix,rate" in result.stderr


@pytest.mark.parametrize(
    "content",
    [
        b"Sup3rSecret,prefix,rate\n",
        b"\x7fELF\x02\x01\x01\x00Sup3rSecret\n",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nSup3rSecret\n",
        b"prefix;rate\nSup3rSecret\n",
        b"",
    ],
)
def test_no_excerpt_of_a_file_that_is_not_a_deck(tmp_path, lab_secrets, content):
    reason = deck_problem(tmp_path, content)
    assert reason == "rates.csv:1: not a rate deck: the first line must be a header starting with prefix,rate"


def test_excerpts_of_a_deck_are_short(tmp_path, lab_secrets):
    assert deck_problem(tmp_path, "prefix,rate\n7495," + "x" * 1000 + "\n") == f"rates.csv:2: rate {'x' * 40!r}… is not a number"
    reason = deck_problem(tmp_path, "prefix,rate," + "y" * 1000 + "\n")
    assert reason.startswith(f"rates.csv:1: unknown column(s) {'y' * 40!r}…;") and len(reason) < 200


@pytest.mark.parametrize(
    ("deck", "reason"),
    [
        (b"prefix,rate\n7495,1\n\xff\xfe,1\n", "rates.csv:3: not UTF-8 text (byte 1 of the line)"),
        ("prefix,rate,initial\n7495,1,٣\n", "rates.csv:2: initial '٣' must be a whole number >= 1 (at most 9 digits)"),
        ("prefix,rate,initial\n7495,1," + "9" * 4000 + "\n", f"rates.csv:2: initial {'9' * 40!r}… must be a whole number >= 1 (at most 9 digits)"),
        ("prefix,rate\n7495,1.234\n", "rates.csv:2: rate '1.234' has more than 2 decimal places"),
        ("prefix,rate\n7495,1e999999\n", "rates.csv:2: rate '1e999999' is too large"),
        ('prefix,rate\n"7495,1\n', "rates.csv:2: not a CSV line (unexpected end of data)"),
        ("prefix,rate,rate\n7495,1,1\n", "rates.csv:1: a column named twice; the header is prefix,rate and may add initial, subsequent, free_seconds, connect_fee, description"),
    ],
)
def test_every_bad_deck_line_is_file_line_reason(tmp_path, lab_secrets, deck, reason):
    assert deck_problem(tmp_path, deck) == reason


# --- found by bench/fuzz_inputs.py ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name: lab\nclosed: !!timestamp -1/24]\n", "not valid YAML: cannot read this timestamp value: '-1/24]' is not one"),
        ("name: lab\nflag: !!bool x\n", "not valid YAML: cannot read this bool value: 'x' is not one"),
        ("name: lab\nx: !!set [1]\n", "not valid YAML: the tag !!set on a list is not used in a site file (plain values, lists and mappings only)"),
        ("name: lab\nx: !!binary AAAA\n", "not valid YAML: the tag !!binary on a value is not used in a site file (plain values, lists and mappings only)"),
        ("name: lab\nx: !!map [1]\n", "not valid YAML: the tag !!map on a list is not used in a site file (plain values, lists and mappings only)"),
        ("name: lab\nx: &a {y: 1}\nz: {<<: *a}\n", "not valid YAML: a merge key (<<) is not used in a site file (plain values, lists and mappings only)"),
    ],
)
def test_explicit_tags_are_errors_not_tracebacks(tmp_path, text, reason):
    path = tmp_path / "site.yml"
    path.write_text(text, encoding="utf-8")
    [(where, found)] = problems_of(path)
    assert where.startswith("line ") and found == reason


def test_a_deck_that_is_a_device_or_a_directory_is_refused(tmp_path, lab_secrets):
    for target, reason in ((Path("/dev/zero"), "/dev/zero: not a rate deck: not a regular file"), (tmp_path, f"cannot read rate deck {tmp_path}: Is a directory")):
        path = write_site(tmp_path, lambda data, target=target: data["trunks"]["carrier"].update(rate_deck=str(target)))
        assert problems_of(path) == [("trunks.carrier.rate_deck", reason)]


def test_an_endless_line_is_refused_early(tmp_path, lab_secrets):
    assert deck_problem(tmp_path, "prefix,rate\n7495," + "1" * 10_000 + "\n") == "rates.csv:2: a line longer than 4096 bytes"
    assert deck_problem(tmp_path, b"\0" * 100_000) == "rates.csv:1: a line longer than 4096 bytes: not a rate deck"
