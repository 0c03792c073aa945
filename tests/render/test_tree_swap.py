"""A render killed at any point (issue 10): the configuration directory is
always a whole tree, old or new, and what the killed render left beside it
is put right by the next one."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rendered_tree import bizpbx_render

from bizpbx.render import file_tree

OLD = {"freeswitch.xml": b"<old/>\n", "vars.xml": b"old\n", "directory/org-12.xml": b"old secret\n"}
NEW = {"freeswitch.xml": b"<new/>\n", "vars.xml": b"new\n", "dialplan/public.xml": b"new\n"}
THIRD = {"freeswitch.xml": b"<third/>\n"}

# Runs replace_tree(target, NEW) and SIGKILLs itself right after its Nth
# rename (os.rename, os.replace, or the atomic exchange).
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from bizpbx.render import file_tree

    target, kill_at, can_exchange = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "yes"
    done = 0

    def then_kill(real):
        def call(*args, **kwargs):
            global done
            result = real(*args, **kwargs)
            done += 1
            if done == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return call

    os.rename = then_kill(os.rename)
    os.replace = then_kill(os.replace)
    if hasattr(file_tree, "_exchange"):
        file_tree._exchange = then_kill(file_tree._exchange) if can_exchange else (lambda first, second: False)
    file_tree.replace_tree(target, {NEW!r})
    print("finished without being killed")
    """
).replace("{NEW!r}", repr(NEW))


def tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if ".bizpbx-" in p.name)


def killed_render(target: Path, kill_at: int, can_exchange: bool) -> None:
    result = subprocess.run([sys.executable, "-c", CHILD, str(target), str(kill_at), "yes" if can_exchange else "no"], capture_output=True, text=True, check=False)
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "freeswitch"
    file_tree.replace_tree(path, OLD)
    assert tree(path) == OLD
    return path


def test_killed_between_its_renames_the_directory_is_a_whole_tree(target: Path):
    killed_render(target, 1, can_exchange=True)  # right after the first rename (before: target -> retired)
    assert target.is_dir(), "no configuration directory after a render killed between its renames"
    assert tree(target) in (OLD, NEW)


def test_the_next_render_removes_what_a_killed_one_left(target: Path):
    killed_render(target, 1, can_exchange=True)
    assert leftovers(target), "the killed render left its staging directory (here: the old tree)"
    file_tree.replace_tree(target, THIRD)
    assert tree(target) == THIRD
    assert leftovers(target) == []


def test_without_exchange_the_next_render_puts_the_previous_tree_back(target: Path):
    killed_render(target, 1, can_exchange=False)  # killed after target -> retired, before staging -> target
    assert not target.exists()
    assert len(leftovers(target)) == 2  # the retired old tree and the staging new one
    notes = file_tree.recover(target)
    assert tree(target) == OLD
    assert leftovers(target) == []
    assert any("put back the previous configuration" in note for note in notes)


def test_without_exchange_a_render_completes_after_recovering(target: Path):
    killed_render(target, 1, can_exchange=False)
    file_tree.replace_tree(target, THIRD)
    assert tree(target) == THIRD
    assert leftovers(target) == []


def test_stale_staging_directories_are_cleaned_even_when_nothing_changed(lab_site_copy: Path, rendered: Path):
    stale = rendered.parent / f".{rendered.name}.bizpbx-new-x1y2z3"
    (stale / "directory").mkdir(parents=True)
    (stale / "directory" / "org-12.xml").write_text('<param name="password" value="an-old-secret"/>\n')
    result = bizpbx_render(str(lab_site_copy), "--out", str(rendered), "--check")
    assert result.returncode == 1, "check must say a render is due while an interrupted one's files are left"
    assert f"leftover: {stale}" in result.stdout
    assert stale.exists(), "--check writes and removes nothing"
    result = bizpbx_render(str(lab_site_copy), "--out", str(rendered))
    assert result.returncode == 0, result.stderr
    assert not stale.exists()
    assert f"removed {stale.name}" in result.stdout
    assert bizpbx_render(str(lab_site_copy), "--out", str(rendered), "--check").returncode == 0


def test_recovery_touches_only_its_own_target(tmp_path: Path, target: Path):
    other = tmp_path / ".other.bizpbx-new-abc"
    other.mkdir()
    similar = tmp_path / ".freeswitch-old"
    similar.mkdir()
    (tmp_path / f".{target.name}.bizpbx-new-zzz").mkdir()
    file_tree.replace_tree(target, THIRD)
    assert other.is_dir() and similar.is_dir()
    assert leftovers(target) == [other.name]


def test_the_exchange_is_atomic_on_this_file_system(tmp_path: Path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "f").write_text("a")
    (second / "f").write_text("b")
    if not file_tree._exchange(first, second):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not supported here; the two-rename path is tested above")
    assert (first / "f").read_text() == "b" and (second / "f").read_text() == "a"
