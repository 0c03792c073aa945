"""The PBX after a lab converge (testinfra over the lab inventory)."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

import bizpbx_lab as lab

from .conftest import REPO

pytestmark = pytest.mark.lab

PBX, CARRIER = lab.BY_NAME["pbx"].address, lab.BY_NAME["carrier"].address
LAB_SUBNET = lab.PLAN.network.subnet
LOOPBACK_ONLY_PORTS = (8021, 9464)  # ESL, the controller's metrics (the demo site's)


@pytest.mark.parametrize("package", ["python3-venv", "nftables", "fail2ban"])
def test_packages(pbx, package: str) -> None:
    assert pbx.package(package).is_installed


@pytest.mark.parametrize("name", ["bizpbx", "freeswitch"])
def test_system_users_cannot_log_in(pbx, name: str) -> None:
    user = pbx.user(name)
    assert user.exists
    assert user.uid < 1000
    assert user.shell == "/usr/sbin/nologin"


@pytest.mark.parametrize(
    ("path", "owner", "group", "mode"),
    [
        ("/etc/bizpbx", "root", "bizpbx", 0o750),
        ("/etc/bizpbx/site.yml", "root", "bizpbx", 0o640),
        ("/etc/bizpbx/site.secrets.yml", "root", "bizpbx", 0o640),
        ("/etc/bizpbx/site.sip-passwords.yml", "bizpbx", "bizpbx", 0o600),
        ("/etc/bizpbx/rates.csv", "root", "bizpbx", 0o640),
        ("/var/lib/bizpbx", "bizpbx", "bizpbx", 0o750),
        ("/var/log/bizpbx", "bizpbx", "bizpbx", 0o750),
        ("/var/lib/bizpbx/backups", "bizpbx", "bizpbx", 0o750),
        ("/etc/systemd/system/bizpbx-backup.timer", "root", "root", 0o644),
        ("/etc/systemd/system/bizpbx-cdr-rotate.timer", "root", "root", 0o644),
        ("/etc/freeswitch", "root", "freeswitch", 0o750),
        ("/var/log/freeswitch", "freeswitch", "freeswitch", 0o750),
        ("/etc/nftables.conf", "root", "root", 0o600),
        ("/etc/systemd/system/bizpbx-controller.service", "root", "root", 0o644),
    ],
)
def test_file_modes(pbx, path: str, owner: str, group: str, mode: int) -> None:
    f = pbx.file(path)
    assert f.exists, path
    assert (f.user, f.group, f.mode) == (owner, group, mode)


@pytest.mark.parametrize("timer", ["bizpbx-backup.timer", "bizpbx-cdr-rotate.timer"])
def test_keeping_timers_run(pbx, timer: str) -> None:
    assert pbx.service(timer).is_enabled and pbx.service(timer).is_running


def test_a_backup_run_by_its_unit_verifies_and_is_kept(pbx) -> None:
    assert pbx.run_test("systemctl start bizpbx-backup.service").rc == 0
    copies = pbx.run("ls /var/lib/bizpbx/backups").stdout.split()
    assert copies and all(name.startswith("ledger-") and name.endswith("Z.sqlite3") for name in copies)
    assert "integrity ok" in pbx.run("journalctl -u bizpbx-backup.service -n 20 --no-pager").stdout


def test_no_logrotate_rule_for_logs_nothing_writes(pbx) -> None:
    assert not pbx.file("/etc/logrotate.d/bizpbx").exists
    assert pbx.run("find /var/log/bizpbx -type f").stdout == ""


def test_site_secrets_installed_from_the_inventory(pbx) -> None:
    expected = yaml.safe_load((REPO / "inventory/lab/site.secrets.yml").read_text())
    installed = yaml.safe_load(pbx.file("/etc/bizpbx/site.secrets.yml").content_string)
    assert installed == expected


def test_site_installed_verbatim(pbx) -> None:
    assert pbx.file("/etc/bizpbx/site.yml").content_string == (REPO / "inventory/lab/site.yml").read_text()


def test_controller_installed_in_its_virtualenv(pbx) -> None:
    assert pbx.run_test("/opt/bizpbx/venv/bin/bizpbx validate /etc/bizpbx/site.yml").rc == 0


def test_no_default_password_anywhere_in_the_configuration(pbx) -> None:
    for directory in ("/etc/bizpbx", "/etc/freeswitch"):
        hits = pbx.run(f"grep -rIlE '(\"|=|: *)(1234|ClueCon)(\"|$)' {directory}")
        assert hits.stdout == "", f"default passwords in {hits.stdout}"


def test_controller_unit_enabled(pbx) -> None:
    assert pbx.service("bizpbx-controller").is_enabled


def test_controller_unit_running(pbx) -> None:
    """Running, and not by being restarted after crashes (NRestarts counts automatic restarts)."""
    props = dict(
        line.split("=", 1)
        for line in pbx.check_output(
            "systemctl show bizpbx-controller -p ActiveState -p SubState -p NRestarts -p Result"
        ).splitlines()
    )
    journal = pbx.run("journalctl -u bizpbx-controller -n 15 --no-pager").stdout
    assert (props["ActiveState"], props["SubState"]) == ("active", "running"), f"{props}\n{journal}"
    assert props["NRestarts"] == "0", f"the controller crashed and was restarted: {props}\n{journal}"


@pytest.mark.usefixtures("needs_freeswitch")
def test_the_controller_takes_turns_with_the_switch_on_the_real_time_scheduler(pbx) -> None:
    """FreeSWITCH raises its threads to SCHED_FIFO; the controller runs SCHED_RR beside them (on the
    normal scheduler it waited for an idle core while the switch's calls waited for it)."""
    policies = {}
    for unit in ("freeswitch", "bizpbx-controller"):
        pid = pbx.check_output(f"systemctl show -P MainPID {unit}")
        # "pid N's current scheduling policy: SCHED_FIFO"
        policies[unit] = pbx.check_output(f"chrt -p {pid}").splitlines()[0].rpartition(" ")[2]
    assert policies == {"freeswitch": "SCHED_FIFO", "bizpbx-controller": "SCHED_RR"}, policies


@pytest.mark.parametrize("service", ["nftables", "fail2ban"])
def test_services_active_and_enabled(pbx, service: str) -> None:
    s = pbx.service(service)
    assert s.is_enabled
    assert s.is_running


def test_fail2ban_jail_for_freeswitch(pbx) -> None:
    status = pbx.check_output("fail2ban-client status freeswitch-bizpbx")
    assert "/var/log/freeswitch/freeswitch.log" in status


def test_fail2ban_filter_matches_auth_failures_and_not_challenges(pbx) -> None:
    failure = (
        "2026-11-25 10:00:00.123456 [WARNING] sofia_reg.c:1787 SIP auth failure (REGISTER) on sofia profile "
        f"'internal' for [101@{PBX}] from ip 192.0.2.7"
    )
    challenge = failure.replace("auth failure", "auth challenge")
    hit = pbx.check_output(f"fail2ban-regex {shlex.quote(failure)} /etc/fail2ban/filter.d/freeswitch-bizpbx.conf")
    miss = pbx.check_output(f"fail2ban-regex {shlex.quote(challenge)} /etc/fail2ban/filter.d/freeswitch-bizpbx.conf")
    assert "Lines: 1 lines, 0 ignored, 1 matched" in hit
    assert "Lines: 1 lines, 0 ignored, 0 matched" in miss


def _input_chain(pbx) -> dict:
    ruleset = json.loads(pbx.check_output("nft -j list table inet bizpbx"))["nftables"]
    chains = [x["chain"] for x in ruleset if "chain" in x]
    rules = [x["rule"] for x in ruleset if "rule" in x and x["rule"]["chain"] == "input"]
    return {"chain": next(c for c in chains if c["name"] == "input"), "rules": rules}


def _counter(pbx, comment: str) -> int:
    for rule in _input_chain(pbx)["rules"]:
        if rule.get("comment") == comment:
            return next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    raise AssertionError(f"no rule with comment {comment!r} in force")


def test_nftables_rules_in_force(pbx) -> None:
    chain = _input_chain(pbx)["chain"]
    assert (chain["hook"], chain["policy"]) == ("input", "drop")
    listing = pbx.check_output("nft list table inet bizpbx")
    assert f"ip saddr {CARRIER} meta l4proto {{ tcp, udp }} th dport 5080 counter" in listing
    assert f"ip saddr {LAB_SUBNET} meta l4proto {{ tcp, udp }} th dport 5060 counter" in listing
    assert "tcp dport { 8021, 8095, 9464 } counter" in listing
    assert "tcp dport 22 counter packets" in listing and "accept" in listing


def _sipp_options(host, target: str):
    # One OPTIONS; nothing answers a dropped request, so SIPp ends on its (bounded) timeout and
    # exits non-zero (255, which testinfra's SSH backend would take for an SSH failure: hence the echo).
    return host.run(f"sipp -sf /etc/sipp/options.xml -m 1 -timeout 3s -timeout_error -nostdin {target}; echo sipp-exit=$?")


def test_sip_from_a_non_trunk_address_is_dropped(pbx, phone) -> None:
    before = _counter(pbx, "SIP to the trunk profile from elsewhere")
    _sipp_options(phone, f"{PBX}:5080")
    assert _counter(pbx, "SIP to the trunk profile from elsewhere") > before


def test_sip_from_the_trunk_is_accepted(pbx, carrier) -> None:
    carrier.run("python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                f"s.sendto(b'OPTIONS sip:{PBX}:5080 SIP/2.0\\r\\n\\r\\n', ('{PBX}', 5080))\"")
    assert _counter(pbx, "SIP to the trunk profile from the trunk") > 0


def test_sip_from_the_phones_is_accepted(pbx, phone) -> None:
    before = _counter(pbx, "SIP to the phone profile from the phones")
    _sipp_options(phone, f"{PBX}:5060")
    assert _counter(pbx, "SIP to the phone profile from the phones") > before


def test_loopback_only_ports_are_not_listening_outside_loopback(pbx) -> None:
    for sock in pbx.socket.get_listening_sockets():
        proto, rest = sock.split("://", 1)
        if proto == "unix":
            continue
        address, _, port = rest.rpartition(":")
        if int(port) in LOOPBACK_ONLY_PORTS:
            assert address in ("127.0.0.1", "::1"), f"{sock} listens beyond loopback"


def test_metrics_serve_prometheus_on_the_pbx_and_no_other_host_reaches_them(pbx, phone) -> None:
    """The demo site lists no monitoring networks: the port has no accept rule and phone cannot connect."""
    scraped = pbx.check_output("python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9464/metrics', timeout=5).read().decode())\"")
    assert "bizpbx_up 1.0" in scraped.splitlines() and "process_cpu_seconds_total" in scraped
    assert "metrics from the monitoring networks" not in pbx.check_output("nft list table inet bizpbx")
    reached = phone.run(f"python3 -c \"import socket; socket.create_connection(('{PBX}', 9464), timeout=3)\"")
    assert reached.rc != 0, "phone reached the metrics port"


@pytest.mark.usefixtures("needs_freeswitch")
def test_freeswitch_running_and_esl_on_loopback_only(pbx) -> None:
    assert pbx.service("freeswitch").is_running
    assert pbx.socket("tcp://127.0.0.1:8021").is_listening
    assert not pbx.socket("tcp://0.0.0.0:8021").is_listening
    assert not pbx.socket(f"tcp://{PBX}:8021").is_listening


@pytest.mark.usefixtures("needs_freeswitch")
def test_reload_goes_through_the_event_socket(pbx) -> None:
    result = pbx.run("systemctl reload freeswitch")
    assert result.rc == 0, result.stderr
    assert pbx.service("freeswitch").is_running
    # ExecReload is `bizpbx reload`, which records the event socket configuration the switch runs with, root only.
    loaded = pbx.file("/etc/.freeswitch.loaded-event-socket.conf.xml")
    assert (loaded.user, loaded.group, loaded.mode) == ("root", "root", 0o600)
    assert loaded.content == pbx.file("/etc/freeswitch/autoload_configs/event_socket.conf.xml").content
    assert not pbx.file("/usr/local/libexec/bizpbx/freeswitch-reloadxml").exists, "the old helper is left behind"
