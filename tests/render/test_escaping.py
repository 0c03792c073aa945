"""Names from the site reach FreeSWITCH exactly as written: XML-escaped, and
safe from its line preprocessor ($${…} expansion, X-PRE-PROCESS lines)."""

from __future__ import annotations

from pathlib import Path

from xml.etree.ElementTree import fromstring

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rendered_tree import bizpbx_render, edit_site, parse, xml_files

from bizpbx.render import xml_value

AWKWARD = 'ООО «Ёлка» <&"\'> $${domain} X-PRE-PROCESS cmd="include" data="/etc/*"'


def test_awkward_names_round_trip(lab_site_copy: Path, tmp_path: Path):
    def rename(data):
        data["organizations"]["12"]["employees"]["101"]["name"] = AWKWARD
        data["organizations"]["34"]["name"] = AWKWARD

    edit_site(lab_site_copy, rename)
    out = tmp_path / "out"
    result = bizpbx_render(str(lab_site_copy), "--out", str(out))
    assert result.returncode == 0, result.stderr
    for path in xml_files(out):
        parse(path)
    users = {u.get("id"): u for u in parse(out / "directory/org-12.xml").iter("user")}
    names = {v.get("name"): v.get("value") for v in users["12-101"].iter("variable")}
    assert names["effective_caller_id_name"] == AWKWARD
    text = (out / "directory/org-12.xml").read_text(encoding="utf-8")
    assert "Ёлка" in text, "UTF-8 as it is, not as character references"
    for number, line in enumerate(text.splitlines(), 1):
        assert "$${" not in line, f"line {number} would be expanded by the preprocessor"
        assert "x-pre-process" not in line.lower(), f"line {number} would be taken for a directive"


def _xml_can_carry(c: str) -> bool:
    return c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"


@given(st.text().filter(lambda t: all(map(_xml_can_carry, t))))
def test_any_text_is_a_safe_attribute_value(text: str):
    value = str(xml_value(text))
    assert "$${" not in value and "x-pre-process" not in value.lower()
    assert "\n" not in value and "\r" not in value
    assert fromstring(f'<a v="{value}"/>').get("v") == text
    assert fromstring(f"<a>{value}</a>").text in (text, None if text == "" else text)


@given(st.text(min_size=1).filter(lambda t: not all(map(_xml_can_carry, t))))
def test_text_xml_cannot_carry_is_refused(text: str):
    with pytest.raises(ValueError, match="control character"):
        xml_value(text)


def test_a_control_character_in_a_name_fails_the_render_naming_the_template(lab_site_copy: Path, tmp_path: Path):
    edit_site(lab_site_copy, lambda data: data["organizations"]["12"]["employees"]["101"].update(name="Мария\x07"))
    rendered = tmp_path / "out"
    result = bizpbx_render(str(lab_site_copy), "--out", str(rendered))
    assert result.returncode == 2
    assert "organization.xml.j2:" in result.stderr and "U+0007" in result.stderr
    assert not rendered.exists()
