"""A cluster site rendered: each node's FreeSWITCH tree (SIP from the proxy alone, phones
through it) and the proxy's Kamailio configuration, checked by Kamailio itself when present."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from rendered_tree import NODES, PROXY, bizpbx_render, parse, settings

from bizpbx.render import RenderError, render_proxy, render_site
from bizpbx.site_loader import load_site


@pytest.fixture
def cluster_site(cluster_site_file: Path):
    return load_site(cluster_site_file)


def test_a_cluster_site_renders_only_a_named_node(cluster_site_file: Path, tmp_path: Path):
    result = bizpbx_render(str(cluster_site_file), "--out", str(tmp_path / "conf"))
    assert result.returncode == 2
    assert "render each node's configuration with --node NAME (pbx1, pbx2)" in result.stderr
    assert not (tmp_path / "conf").exists()
    unknown = bizpbx_render(str(cluster_site_file), "--out", str(tmp_path / "conf"), "--node", "pbx9")
    assert unknown.returncode == 2 and "node 'pbx9' is not in cluster.nodes (pbx1, pbx2)" in unknown.stderr


def test_a_single_server_has_no_nodes_and_no_proxy(lab_site):
    with pytest.raises(RenderError, match="has no cluster section"):
        render_site(lab_site, node="pbx1")
    with pytest.raises(RenderError, match="no proxy to render"):
        render_proxy(lab_site)


def test_a_node_listens_on_its_address_and_takes_sip_from_the_proxy_alone(cluster_site_file: Path, tmp_path: Path):
    out = tmp_path / "pbx2"
    assert bizpbx_render(str(cluster_site_file), "--out", str(out), "--node", "pbx2").returncode == 0
    profiles = {p.get("name"): p for p in parse(out / "autoload_configs/sofia.conf.xml").iter("profile")}
    for profile in profiles.values():
        values = settings(profile.find("settings"))
        assert values["sip-ip"] == values["rtp-ip"] == NODES["pbx2"]
    assert settings(profiles["internal"].find("settings"))["disable-register"] == "true", "phones register at the proxy"
    for gateway in profiles["external"].iter("gateway"):
        values = settings(gateway)
        assert values["register-proxy"] == values["outbound-proxy"] == f"{PROXY}:5060"
    acl = {lst.get("name"): [n.get("cidr") for n in lst] for lst in parse(out / "autoload_configs/acl.conf.xml").iter("list")}
    assert acl["trunks"] == acl["phones"] == [f"{PROXY}/32"]
    domain = settings(parse(out / "directory/domain.xml").find("domain/params"))
    assert domain["dial-string"].endswith(f"sofia/internal/${{dialed_user}}@{PROXY}:5060")
    assert f'data="domain={PROXY}"' in (out / "vars.xml").read_text(encoding="utf-8")


def test_the_nodes_differ_only_in_their_addresses(cluster_site):
    first, second = render_site(cluster_site, node="pbx1"), render_site(cluster_site, node="pbx2")
    assert first.keys() == second.keys()
    differing = [path for path in first if first[path] != second[path]]
    assert differing == ["autoload_configs/sofia.conf.xml"]
    assert first[differing[0]].replace(NODES["pbx1"].encode(), NODES["pbx2"].encode()) == second[differing[0]]


def test_the_proxy_dispatches_to_both_nodes_and_knows_each_phone_by_its_digest(cluster_site):
    files = render_proxy(cluster_site)
    assert sorted(files) == ["dispatcher.list", "kamailio.cfg", "subscribers.cfg"]
    entries = [line.split()[:2] for line in files["dispatcher.list"].decode().splitlines() if not line.startswith("#")]
    assert entries == [
        ["1", f"sip:{NODES['pbx1']}:5080"], ["1", f"sip:{NODES['pbx2']}:5080"],
        ["2", f"sip:{NODES['pbx1']}:5060"], ["2", f"sip:{NODES['pbx2']}:5060"],
    ]  # fmt: skip
    subscribers = files["subscribers.cfg"].decode()
    for org_id, org in cluster_site.organizations.items():
        for ext, employee in org.employees.items():
            password = employee.password.get_secret_value()
            ha1 = hashlib.md5(f"{org_id}-{ext}:{PROXY}:{password}".encode()).hexdigest()
            assert f'$sht(subscriber=>{org_id}-{ext}) = "{ha1}";' in subscribers
            for content in files.values():
                assert password.encode() not in content
    config = files["kamailio.cfg"].decode()
    assert f"listen=udp:{PROXY}:5060" in config
    assert 'modparam("dispatcher", "ds_ping_interval", 2)' in config
    # A probe times out in 2 s, not tm's 30 s: a stopped node is found out within 2 + 2 s (the lab took 27 s without it).
    assert 'modparam("tm", "fr_timer", 2000)' in config
    for network in cluster_site.freeswitch.phone_networks:
        assert f'is_in_subnet("$si", "{network}")' in config
    assert 'is_in_subnet("$si", "10.231.0.20/32")' in config, "the trunk's source address"


def test_proxy_diff_masks_the_digests(cluster_site_file: Path, tmp_path: Path):
    out = tmp_path / "proxy"
    assert bizpbx_render(str(cluster_site_file), "--out", str(out), "--proxy").returncode == 0
    data = yaml.safe_load(cluster_site_file.read_text(encoding="utf-8"))
    data["organizations"]["12"]["employees"]["101"]["password"] = "another-password-1"
    cluster_site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = bizpbx_render(str(cluster_site_file), "--out", str(out), "--proxy", "--check", "--diff")
    assert result.returncode == 1
    assert '12-101) = "********(new)";' in result.stdout and '12-101) = "********(old)";' in result.stdout
    assert re.search(r'"[0-9a-f]{32}"', result.stdout) is None, "no digest shown"


def _kamailio() -> tuple[Path, Path] | None:
    prefix = os.environ.get("KAMAILIO_PREFIX")
    if prefix:
        return Path(prefix, "usr/sbin/kamailio"), Path(prefix, "usr/lib/x86_64-linux-gnu/kamailio")
    binary = shutil.which("kamailio")
    return (Path(binary), Path("/usr/lib/x86_64-linux-gnu/kamailio")) if binary else None


def test_kamailio_accepts_the_proxy_configuration(cluster_site, tmp_path: Path):
    found = _kamailio()
    if found is None:
        pytest.skip("no Kamailio here to check the configuration with (install kamailio, or set KAMAILIO_PREFIX to an unpacked one)")
    binary, libraries = found
    for name, content in render_proxy(cluster_site, conf_dir=tmp_path).items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "database.cfg").write_text('#!define DBURL "postgres://kamailio:database-password@10.233.0.40/kamailio"\n')
    result = subprocess.run(
        [str(binary), "-c", "-f", str(tmp_path / "kamailio.cfg"), "-L", str(libraries / "modules")],
        env=dict(os.environ, LD_LIBRARY_PATH=str(libraries)), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and "config file ok" in result.stdout + result.stderr, result.stderr[-3000:]
