"""`make lab FREESWITCH_SOURCE=DIR`: the lab checks the directory before anything is made, and a
source build is never mixed with a bind-mounted one."""

from __future__ import annotations

from pathlib import Path

import pytest

import bizpbx_lab as lab


def make_archives(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"\x1f\x8b")


def test_a_directory_with_one_archive_of_each_part_is_taken(tmp_path: Path) -> None:
    make_archives(tmp_path, "freeswitch-1.10.12.tar.gz", "sofia-sip-1.13.17.tar.gz", "spandsp-3.0.0-0d2e6ac65e.tar.xz")
    lab.check_source_archives(tmp_path)


def test_a_missing_part_is_named(tmp_path: Path) -> None:
    make_archives(tmp_path, "freeswitch-1.10.12.tar.gz", "spandsp-3.0.0.tar.gz")
    with pytest.raises(lab.LabError, match=r"must hold one sofia-sip-\*\.tar\.\* archive \(found: none\)"):
        lab.check_source_archives(tmp_path)


def test_two_archives_of_one_part_are_refused_naming_both(tmp_path: Path) -> None:
    make_archives(tmp_path, "freeswitch-1.10.11.tar.gz", "freeswitch-1.10.12.tar.gz", "sofia-sip-1.13.17.tar.gz", "spandsp-3.0.0.tar.gz")
    with pytest.raises(lab.LabError, match="found: freeswitch-1.10.11.tar.gz, freeswitch-1.10.12.tar.gz"):
        lab.check_source_archives(tmp_path)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(lab.LabError, match="is not a directory"):
        lab.check_source_archives(tmp_path / "nothing")


def test_a_source_build_mounts_no_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FREESWITCH_PREFIX", "/opt/freeswitch")
    assert lab.prefix_to_mount() == "/opt/freeswitch"
    monkeypatch.setenv("FREESWITCH_SOURCE", str(tmp_path))
    assert lab.prefix_to_mount() is None
