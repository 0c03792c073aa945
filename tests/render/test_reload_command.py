"""A new ESL password must reach the running switch (issue 10): `bizpbx render`
keeps the event socket configuration the switch loaded, root only, beside the
tree; `bizpbx reload` (the unit's ExecReload) refuses a tree not rendered from
the site; the role reloads the switch through it. The switch's side is in
tests/esl/test_reload_fallback.py (fake) and test_reload_live.py (real)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from rendered_tree import bizpbx_render

from bizpbx.render.loaded_event_socket import EVENT_SOCKET_CONF, loaded_path

REPO = Path(__file__).resolve().parents[2]
SOURCE_SUFFIXES = {".py", ".yml", ".yaml", ".j2", ".md", ".cfg", ".toml", ".txt"}  # not __pycache__'s .pyc


def env_with(password: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BIZPBX_ESL__PASSWORD"}
    if password is not None:
        env["BIZPBX_ESL__PASSWORD"] = password
    return env


def render(site: Path, out: Path, password: str) -> subprocess.CompletedProcess[str]:
    result = bizpbx_render(str(site), "--out", str(out), env=env_with(password))
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr
    return result


def reload(site: Path, conf_dir: Path, password: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bizpbx.cli", "reload", str(site), "--conf-dir", str(conf_dir)],
        capture_output=True, text=True, check=False, env=env_with(password), timeout=60,
    )


def test_render_keeps_the_configuration_the_switch_loaded_when_the_password_changes(lab_site_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "freeswitch"
    kept = loaded_path(out)
    assert kept == tmp_path / ".freeswitch.loaded-event-socket.conf.xml"
    render(lab_site_copy, out, "first-password-1")
    first = (out / EVENT_SOCKET_CONF).read_bytes()
    assert not kept.exists(), "a first render replaces nothing the switch loaded"
    render(lab_site_copy, out, "first-password-1")
    assert not kept.exists()

    second = render(lab_site_copy, out, "second-password-2")
    assert kept.read_bytes() == first
    assert os.stat(kept).st_mode & 0o777 == 0o600
    assert f"{kept}: the event socket configuration the switch runs with, kept (root only)" in second.stdout
    assert "first-password-1" not in second.stdout

    # No reload since: the switch still runs with the first; the copy is not the tree's to tidy.
    third = render(lab_site_copy, out, "third-password-3")
    assert kept.read_bytes() == first and str(kept) not in third.stdout
    check = bizpbx_render(str(lab_site_copy), "--out", str(out), "--check", env=env_with("third-password-3"))
    assert (check.returncode, check.stdout) == (0, f"{out}: up to date\n")
    assert kept.read_bytes() == first


def test_a_render_of_other_files_keeps_no_copy(lab_site_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "freeswitch"
    render(lab_site_copy, out, "first-password-1")
    site = yaml.safe_load(lab_site_copy.read_text(encoding="utf-8"))
    site["freeswitch"]["max_calls"] = 7
    lab_site_copy.write_text(yaml.safe_dump(site, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = render(lab_site_copy, out, "first-password-1")
    assert "changed: autoload_configs/switch.conf.xml" in result.stdout
    assert not loaded_path(out).exists()


def test_reload_refuses_a_tree_not_rendered_from_the_site(lab_site_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "freeswitch"
    render(lab_site_copy, out, "rendered-password-1")
    result = reload(lab_site_copy, out, "another-password-2")
    assert result.returncode == 2
    assert result.stderr == (
        f"{out / EVENT_SOCKET_CONF}: not rendered from the esl settings of {lab_site_copy} (its address, port or password differ); "
        f"render it first (bizpbx render {lab_site_copy} --out {out})\n"
    )
    assert "password-1" not in result.stdout + result.stderr and "password-2" not in result.stdout + result.stderr


def test_reload_before_any_render(lab_site_copy: Path, tmp_path: Path) -> None:
    result = reload(lab_site_copy, tmp_path / "freeswitch", "some-password-1")
    assert result.returncode == 2
    assert "missing; render the configuration first" in result.stderr


def test_reload_needs_the_esl_password_only(lab_site_copy: Path, tmp_path: Path) -> None:
    env = env_with(None)
    env.pop("BIZPBX_TRUNKS__CARRIER__PASSWORD", None)  # not needed by reload
    result = subprocess.run(
        [sys.executable, "-m", "bizpbx.cli", "reload", str(lab_site_copy), "--conf-dir", str(tmp_path)],
        capture_output=True, text=True, check=False, env=env, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "esl.password: required: put it in site.secrets.yml beside the site file, or set BIZPBX_ESL__PASSWORD\n"


def test_the_role_reloads_the_switch_through_bizpbx_reload() -> None:
    unit = (REPO / "roles/freeswitch/templates/etc/systemd/system/freeswitch.service.j2").read_text(encoding="utf-8")
    [exec_reload] = [line for line in unit.splitlines() if line.startswith("ExecReload=")]
    # As root, outside the sandbox: it reads the site's secrets and writes the copy beside the tree.
    assert exec_reload == "ExecReload=+{{ freeswitch__bizpbx_command }} reload {{ freeswitch__site_path }} --conf-dir {{ freeswitch__conf_dir }}"
    [handler] = [h for h in yaml.safe_load((REPO / "roles/freeswitch/handlers/main.yml").read_text()) if h["name"] == "Reload FreeSWITCH"]
    # The same command as the unit's reload, run by the handler so that the run shows what it says.
    assert handler["ansible.builtin.command"]["argv"] == ["{{ freeswitch__bizpbx_command }}", "reload", "{{ freeswitch__site_path }}", "--conf-dir", "{{ freeswitch__conf_dir }}"]
    handlers = yaml.safe_load((REPO / "roles/freeswitch/handlers/main.yml").read_text())
    # Only a running switch is reloaded: on a first converge the handlers are flushed before the
    # switch starts, and its event socket is not there yet (the lab's first converge failed so).
    [facts] = [h for h in handlers if h.get("listen") == "Reload FreeSWITCH"]
    assert "ansible.builtin.service_facts" in facts and handlers.index(facts) < handlers.index(handler)
    assert "(ansible_facts.services | default({})).get('freeswitch.service', {}).get('state') == 'running'" in handler["when"]
    assert not any(h.get("ansible.builtin.systemd_service", {}).get("state") == "restarted" for h in handlers), "the handlers must reload, never restart"
    # The hand-written client it replaces is gone: only its removal (for servers provisioned
    # before) and the lab's check of that removal still name it.
    naming = {
        path.relative_to(REPO).as_posix()
        for tree in ("roles", "tests", "playbooks")
        for path in (REPO / tree).rglob("*")
        if path.suffix in SOURCE_SUFFIXES and path.is_file() and path != Path(__file__)
        and "freeswitch-reloadxml" in path.read_text(encoding="utf-8", errors="replace")
    }
    assert naming == {"roles/freeswitch/tasks/main.yml", "tests/hosts/test_pbx.py"}
    assert not (REPO / "roles/freeswitch/templates/usr").exists()
    readme = (REPO / "roles/README.md").read_text(encoding="utf-8")
    assert str(loaded_path(Path("/etc/freeswitch"))) in readme
