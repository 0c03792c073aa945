"""The local lab: Debian 12 hosts booted with systemd-nspawn, each in its own network namespace.

Run as root: ``python -m bizpbx_lab [--lab NAME] up|converge|down|status`` (``make lab [LAB=NAME]`` /
``make lab-down``). The lab is ``inventory/lab`` (three hosts) unless BIZPBX_LAB (``--lab``) names
another: ``cluster`` is a SIP proxy, two FreeSWITCH nodes, PostgreSQL, the carrier and the phones,
on a subnet, namespaces and state directory of its own, so that it coexists with the three-host lab.
It is a tool of the repository, not part of the bizpbx a server runs.

Why Python rather than a shell script: the same code is imported by the pytest session fixture
in ``tests/hosts/``, the teardown has to be careful about which processes it signals (only the
``systemd-nspawn`` it started, checked by pid *and* command line), and every step must be
idempotent and leave nothing half-made when it fails.

The address plan is the lab's Ansible inventory's (``inventory/lab``, read by `bizpbx_lab.plan`):
in the three-host lab, the hosts ``pbx`` (FreeSWITCH + controller), ``carrier`` (Kamailio, the SIP provider) and
``phone`` (SIPp, the employees' phones) on one private subnet, on a bridge that lives in a
network namespace of its own, so the bridge is not on this machine's own network and nothing
is routed or NATed out of the lab. This machine has the gateway address, where the lab's
tinyproxy listens: the ONLY way a lab host reaches Debian's packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bizpbx_lab.local import CACHE_DIR, LabError, log
from bizpbx_lab.machines import (
    KNOWN_HOSTS,
    boot,
    ensure_rootfs_cache,
    ensure_ssh_key,
    machine_pid,
    make_machine,
    remove,
    ssh_args,
    ssh_ready,
    stop,
    wait_for_ssh,
    write_known_hosts,
)
from bizpbx_lab.network import ensure_network, ensure_proxy, netns_exists, proxy_pid, remove_network
from bizpbx_lab.plan import INVENTORY, REPO_ROOT, Host, read_plan
from bizpbx_lab.site_secrets import ensure_lab_secrets, keep_provisioned_secrets, remove_lab_secrets

PLAN = read_plan()
HOSTS: tuple[Host, ...] = PLAN.hosts
BY_NAME: dict[str, Host] = PLAN.by_name

__all__ = [
    "BY_NAME",
    "HOSTS",
    "PLAN",
    "Host",
    "LabError",
    "boot",
    "check_source_archives",
    "converge",
    "down",
    "ensure_lab_secrets",
    "prefix_to_mount",
    "machine_pid",
    "ssh_args",
    "status",
    "stop",
    "up",
    "wait_for_ssh",
    "why_impossible",
]

# The commands `up` needs on this machine, and the Debian package that brings each.
HOST_TOOLS = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "tinyproxy": "tinyproxy",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def why_impossible() -> str | None:
    """None when this machine can run the lab, else the reason it cannot (used by tests to skip)."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, systemd-nspawn)"
    if shutil.which("apt-get") is None and any(shutil.which(t) is None for t in HOST_TOOLS):
        return "no apt-get to install systemd-nspawn/debootstrap with, and they are missing"
    if not Path("/proc/self/ns/net").exists():
        return "the kernel has no network namespaces"
    return None


def ensure_host_tools() -> None:
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    log(f"installing on this machine: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        if subprocess.run(cmd, env=env, check=False).returncode != 0:
            raise LabError(f"`{' '.join(cmd)}` failed")


# The archives FREESWITCH_SOURCE must hold, one of each (the freeswitch role's freeswitch__source_archives).
SOURCE_PARTS = ("freeswitch", "sofia-sip", "spandsp")


def check_source_archives(directory: Path) -> None:
    """FREESWITCH_SOURCE names a directory with exactly one archive of each part, or the lab says what is wrong."""
    if not directory.is_dir():
        raise LabError(f"FREESWITCH_SOURCE={directory} is not a directory")
    for part in SOURCE_PARTS:
        found = sorted(directory.glob(f"{part}-*.tar.*"))
        if len(found) != 1:
            names = ", ".join(path.name for path in found) or "none"
            raise LabError(f"FREESWITCH_SOURCE={directory} must hold one {part}-*.tar.* archive (found: {names})")


def prefix_to_mount() -> str | None:
    """The build of this machine pbx gets bind-mounted (FREESWITCH_PREFIX), unless pbx builds its own (FREESWITCH_SOURCE)."""
    if os.environ.get("FREESWITCH_SOURCE"):
        return None
    return os.environ.get("FREESWITCH_PREFIX") or None


def up() -> None:
    reason = why_impossible()
    if reason:
        raise LabError(reason)
    ensure_host_tools()
    ensure_ssh_key()
    cache = ensure_rootfs_cache()
    source = os.environ.get("FREESWITCH_SOURCE") or None
    if source:
        check_source_archives(Path(source))
    prefix = prefix_to_mount()
    if prefix and not Path(prefix, "bin/freeswitch").is_file():
        raise LabError(f"FREESWITCH_PREFIX={prefix} has no bin/freeswitch")
    for host in HOSTS:
        make_machine(host, cache, f"{PLAN.network.gateway}:{PLAN.network.proxy_port}")
    write_known_hosts(HOSTS)
    ensure_lab_secrets()
    keep_provisioned_secrets()
    ensure_network(PLAN)
    ensure_proxy(PLAN)
    for host in HOSTS:
        boot(host, prefix)
    for host in HOSTS:
        wait_for_ssh(host)
        log(f"{host.name} is up at {host.address}")


def converge(extra: list[str]) -> int:
    """Run playbooks/site.yml against the lab inventory with this virtualenv's ansible-playbook."""
    ensure_lab_secrets()
    keep_provisioned_secrets()
    playbook = Path(sys.executable).with_name("ansible-playbook")
    cmd = [str(playbook), "-i", str(INVENTORY / "hosts.yml"), str(REPO_ROOT / "playbooks/site.yml"), *extra]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"))
    log(" ".join(cmd))
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, check=False).returncode


def down() -> None:
    for host in HOSTS:
        stop(host)
    remove_network(PLAN)
    for host in HOSTS:
        remove(host)
    KNOWN_HOSTS.unlink(missing_ok=True)
    remove_lab_secrets()
    log(f"lab removed (the rootfs cache stays in {CACHE_DIR})")


def status() -> bool:
    all_up = True
    for host in HOSTS:
        pid = machine_pid(host)
        reachable = pid is not None and ssh_ready(host)
        all_up &= reachable
        print(
            f"{host.name:8} {host.address:12} netns={'yes' if netns_exists(host.netns) else 'no':3} "
            f"nspawn={pid or '-'} ssh={'up' if reachable else 'down'}"
        )
    print(f"proxy    tinyproxy={proxy_pid() or '-'}")
    return all_up
