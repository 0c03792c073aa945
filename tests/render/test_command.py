"""`bizpbx render` as the Ansible role runs it: determinism, atomicity, --check, --diff."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from demo_site import LAB_SITE
from rendered_tree import bizpbx_render, edit_site

from bizpbx.render import TEMPLATES_DIR, file_tree
from bizpbx.commands import render as render_command


def snapshot(tree: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(tree).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in sorted(tree.rglob("*")) if p.is_file()}


def leftovers(tree: Path) -> list[str]:
    return sorted(p.name for p in tree.parent.iterdir() if ".bizpbx-" in p.name)


def test_same_site_same_bytes(lab_site_copy: Path, tmp_path: Path):
    first, second = tmp_path / "one", tmp_path / "two"
    assert bizpbx_render(str(lab_site_copy), "--out", str(first)).returncode == 0
    assert bizpbx_render(str(lab_site_copy), "--out", str(second)).returncode == 0
    assert snapshot(first) == snapshot(second)


def test_the_lab_site_file_renders_from_the_esl_and_trunk_passwords_alone(tmp_path: Path, lab_secrets):
    # The checked-in file, not the tests' copy: its API client is the lab's secret, so without
    # site.secrets.yml it renders with the API off instead of asking for a token.
    site = tmp_path / "site.yml"
    shutil.copy(LAB_SITE, site)
    shutil.copy(LAB_SITE.with_name("rates.csv"), tmp_path / "rates.csv")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BIZPBX_")}, **lab_secrets}
    result = bizpbx_render(str(site), "--out", str(tmp_path / "out"), env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "freeswitch.xml").is_file()


def test_same_bytes_whatever_the_environment_order_and_hash_seed(lab_site_copy: Path, tmp_path: Path, lab_secrets):
    bizpbx_render(str(lab_site_copy), "--out", str(tmp_path / "seed"))  # stores the generated passwords once
    overrides = {**lab_secrets, "BIZPBX_FREESWITCH__MAX_CALLS": "321", "BIZPBX_ORGANIZATIONS__34__NAME": "АО «Вектор-2»"}
    base = {k: v for k, v in os.environ.items() if not k.startswith("BIZPBX_")}
    outputs = []
    for order, seed in ((sorted(overrides), "1"), (sorted(overrides, reverse=True), "2")):
        env = {"PYTHONHASHSEED": seed, **{name: overrides[name] for name in order}, **base}
        out = tmp_path / f"out-{seed}"
        result = bizpbx_render(str(lab_site_copy), "--out", str(out), env=env)
        assert result.returncode == 0, result.stderr
        outputs.append(snapshot(out))
    assert outputs[0] == outputs[1]
    assert b'name="max-sessions" value="642"' in outputs[0]["autoload_configs/switch.conf.xml"][0]


def test_check_lists_new_files_and_exits_one_then_zero_once_written(lab_site_copy: Path, tmp_path: Path):
    out = tmp_path / "freeswitch"
    assert bizpbx_render(str(lab_site_copy), "--out", str(out)).returncode == 0
    (out / "vars.xml").write_text("<include/>\n")
    (out / "autoload_configs" / "stock.conf.xml").write_text("<configuration/>\n")
    os.chmod(out / "freeswitch.xml", 0o644)
    before = snapshot(out)

    result = bizpbx_render(str(lab_site_copy), "--out", str(out), "--check")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == ["removed: autoload_configs/stock.conf.xml", "mode: freeswitch.xml", "changed: vars.xml"]
    assert snapshot(out) == before, "--check writes nothing"

    assert bizpbx_render(str(lab_site_copy), "--out", str(out)).returncode == 0
    result = bizpbx_render(str(lab_site_copy), "--out", str(out), "--check")
    assert (result.returncode, result.stdout) == (0, f"{out}: up to date\n")
    assert not (out / "autoload_configs" / "stock.conf.xml").exists(), "files bizpbx does not render are removed"


def test_check_on_a_missing_directory_lists_every_file(lab_site_copy: Path, tmp_path: Path):
    bizpbx_render(str(lab_site_copy), "--out", str(tmp_path / "seed"))
    result = bizpbx_render(str(lab_site_copy), "--out", str(tmp_path / "absent"), "--check")
    assert result.returncode == 1
    listed = result.stdout.splitlines()
    assert "new: freeswitch.xml" in listed and "new: directory/org-12.xml" in listed
    assert not (tmp_path / "absent").exists()


def test_check_before_passwords_exist_writes_nothing(lab_site_copy: Path, tmp_path: Path):
    result = bizpbx_render(str(lab_site_copy), "--out", str(tmp_path / "out"), "--check")
    assert result.returncode == 1
    assert "still to be generated" in result.stdout
    assert not (lab_site_copy.parent / "site.sip-passwords.yml").exists()
    assert not (tmp_path / "out").exists()


def test_diff_masks_secrets(lab_site_copy: Path, tmp_path: Path, lab_secrets):
    out = tmp_path / "freeswitch"
    assert bizpbx_render(str(lab_site_copy), "--out", str(out)).returncode == 0
    (out / "autoload_configs" / "event_socket.conf.xml").write_text("<configuration/>\n")
    shutil.rmtree(out / "directory")
    result = bizpbx_render(str(lab_site_copy), "--out", str(out), "--check", "--diff")
    assert result.returncode == 1
    assert "+++ b/autoload_configs/event_socket.conf.xml" in result.stdout
    assert f'+    <param name="password" value="{file_tree.MASK}(new)"/>' in result.stdout
    assert "--- /dev/null\n+++ b/directory/org-12.xml" in result.stdout
    generated = (lab_site_copy.parent / "site.sip-passwords.yml").read_text()
    for secret in (*lab_secrets.values(), *[line.split(": ")[-1] for line in generated.splitlines() if "password:" in line]):
        assert secret not in result.stdout


def test_an_invalid_site_exits_two_and_writes_nothing(lab_site_copy: Path, tmp_path: Path, rendered: Path):
    before = snapshot(rendered)
    edit_site(lab_site_copy, lambda data: data["organizations"]["12"].update(owner="999"))
    result = bizpbx_render(str(lab_site_copy), "--out", str(rendered))
    assert result.returncode == 2
    assert "organizations.12.owner: 999 is not an employee of this organization" in result.stderr
    assert snapshot(rendered) == before


def _broken_templates(tmp_path: Path) -> Path:
    broken = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, broken)
    sofia = broken / "autoload_configs" / "sofia.conf.xml.j2"
    lines = sofia.read_text().splitlines(keepends=True)
    lines.insert(4, "    <param name=\"x\" value=\"{{ site.no_such_setting }}\"/>\n")
    sofia.write_text("".join(lines))
    return broken


def test_a_failing_template_leaves_the_tree_untouched(lab_site_copy: Path, tmp_path: Path, rendered: Path, monkeypatch, capsys):
    before = snapshot(rendered)
    monkeypatch.setattr("bizpbx.render.renderer.TEMPLATES_DIR", _broken_templates(tmp_path))
    parser = render_command.argparse.ArgumentParser()
    render_command.register(parser.add_subparsers())
    args = parser.parse_args(["render", str(lab_site_copy), "--out", str(rendered)])
    assert render_command.run(args) == 2
    error = capsys.readouterr().err
    assert "sofia.conf.xml.j2:5" in error and "no_such_setting" in error
    assert f"{rendered} left as it was" in error
    assert snapshot(rendered) == before
    assert leftovers(rendered) == []


def test_a_failure_while_writing_leaves_the_old_tree_and_no_temporary_directory(rendered: Path, render_files, monkeypatch):
    before = snapshot(rendered)
    changed = {**render_files, "vars.xml": b"<include/>\n"}
    written = []
    real_write = file_tree._write

    def write_then_fail(root, relative, content):
        if len(written) == 5:
            raise OSError(28, "No space left on device")
        written.append(relative)
        real_write(root, relative, content)

    monkeypatch.setattr(file_tree, "_write", write_then_fail)
    with pytest.raises(OSError, match="No space left"):
        file_tree.replace_tree(rendered, changed)
    assert snapshot(rendered) == before
    assert leftovers(rendered) == []


def test_refuses_to_replace_a_directory_that_is_not_a_freeswitch_configuration(lab_site_copy: Path, tmp_path: Path):
    unrelated = tmp_path / "etc"
    unrelated.mkdir()
    (unrelated / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    result = bizpbx_render(str(lab_site_copy), "--out", str(unrelated))
    assert result.returncode == 2
    assert "holds no freeswitch.xml" in result.stderr
    assert (unrelated / "passwd").read_text() == "root:x:0:0::/root:/bin/sh\n"
    assert leftovers(unrelated) == []


def test_new_files_take_the_group_of_the_tree_they_replace(rendered: Path, render_files):
    other = next((gid for gid in os.getgroups() if gid != os.getegid()), 4242 if os.geteuid() == 0 else None)
    if other is None:
        pytest.skip("needs a second group (or root) to give the tree a group of its own")
    os.chown(rendered, -1, other)
    file_tree.replace_tree(rendered, {**render_files, "vars.xml": b"<include/>\n"})
    assert (rendered / "vars.xml").read_bytes() == b"<include/>\n"
    for path in [rendered, *rendered.rglob("*")]:
        assert path.stat().st_gid == other, path
