"""The lab for the host tests: brought up and converged once per session, removed at the end.

Which lab is BIZPBX_LAB's (the three-host lab, inventory/lab, by default; `cluster` is the proxy,
two nodes and PostgreSQL): each lab's tests run on their own lab only. With BIZPBX_LAB=cluster
the three-host lab's modules are not collected (they read its hosts on import); the cluster's
tests skip, saying so, on any other lab.

Set BIZPBX_LAB_KEEP=1 to leave it running (then `make lab-down` removes it).
The lab tests skip, saying why, only when this machine cannot run the lab (not root, no
network namespaces) or when another test session holds the lab.

With BIZPBX_LAB_VMS=vagrant (`make vagrant-test`) the same tests run against the Vagrant VMs
instead, which `make vagrant-up` booted: the session converges them, never starts or removes
them, and leaves the nspawn lab alone. The VMs are reached through inventory/vagrant, given
after inventory/lab.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bizpbx_lab as lab
from bizpbx_lab.local import LAB_NAME
from bizpbx_lab.plan import INVENTORY as LAB_INVENTORY

REPO = Path(__file__).resolve().parents[2]
VMS = os.environ.get("BIZPBX_LAB_VMS") == "vagrant"
INVENTORIES = [LAB_INVENTORY / "hosts.yml", *([REPO / "inventory/vagrant/hosts.yml"] if VMS else [])]
PLAYBOOK = REPO / "playbooks/site.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
LOCK = Path("/run/bizpbx-vagrant.lock" if VMS else "/run/bizpbx-lab.lock" if LAB_NAME == "lab" else f"/run/bizpbx-lab-{LAB_NAME}.lock")
# The three-host lab's modules; test_lint and test_cluster run whichever lab is up.
THREE_HOST_MODULES = ["acceptance.py", "test_calls.py", "test_carrier_phone.py", "test_converge.py", "test_day2.py", "test_features.py", "test_lifecycle.py", "test_pbx.py"]
collect_ignore = THREE_HOST_MODULES if LAB_NAME != "lab" else []

# testinfra's ansible backend runs `ansible-inventory`: the one beside this interpreter, on these inventories.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ["ANSIBLE_INVENTORY"] = ",".join(map(str, INVENTORIES))

# Every run of the session installs the same commit of the controller, even if commits land meanwhile.
SOURCE_VERSION = subprocess.run(
    ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
).stdout.strip() or "HEAD"

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$", re.MULTILINE)


@dataclasses.dataclass
class Run:
    """One ansible-playbook run: its exit status, output and the PLAY RECAP per host."""

    args: list[str]
    returncode: int
    output: str

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        tail = self.output.rsplit("PLAY RECAP", 1)[-1]
        return {
            m["host"]: {k: int(v) for k, v in (pair.split("=") for pair in m["counts"].split())}
            for m in RECAP_LINE.finditer(tail)
        }

    def explain(self) -> str:
        return f"ansible-playbook {' '.join(self.args)} exited {self.returncode}:\n{self.output[-6000:]}"


def playbook(*args: str, playbook_path: Path = PLAYBOOK) -> Run:
    inventories = [arg for inventory in INVENTORIES for arg in ("-i", str(inventory))]
    cmd = [str(ANSIBLE_PLAYBOOK), *inventories, str(playbook_path), "-e", f"bizpbx__source_version={SOURCE_VERSION}", *args]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    # stdin from /dev/null: ansible-playbook refuses a non-blocking stdin (`Ansible requires blocking IO on stdin`).
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    return Run([str(playbook_path.relative_to(REPO)), *args], proc.returncode, proc.stdout + proc.stderr)


@dataclasses.dataclass
class Lab:
    first_converge: Run
    freeswitch_installed: bool


def freeswitch_asked() -> bool:
    return any(os.environ.get(name) for name in ("FREESWITCH_SOURCE", "FREESWITCH_PREFIX", "SIGNALWIRE_TOKEN"))


def hold_lock():
    lock = open(LOCK, "w")  # noqa: SIM115 - held for the whole session
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pytest.skip(f"the lab is in use by another test session (lock {LOCK})")
    return lock


@pytest.fixture(scope="session")
def lab_env() -> Lab:
    if VMS:
        lock = hold_lock()
        yield Lab(first_converge=playbook(), freeswitch_installed=freeswitch_asked())
        lock.close()
        return
    reason = lab.why_impossible()
    if reason:
        pytest.skip(f"no lab on this machine: {reason}")
    lock = hold_lock()
    try:
        lab.up()
    except lab.LabError as exc:
        if "systemd-nspawn exited" in str(exc):
            pytest.skip(f"systemd-nspawn cannot boot a machine here: {exc}")
        raise
    try:
        yield Lab(first_converge=playbook(), freeswitch_installed=freeswitch_asked())
    finally:
        if os.environ.get("BIZPBX_LAB_KEEP") != "1":
            lab.down()
        lock.close()


@pytest.fixture(scope="session")
def converged(lab_env: Lab) -> Lab:
    run = lab_env.first_converge
    assert run.returncode == 0, run.explain()
    return lab_env


def testinfra_host(name: str):
    import testinfra

    return testinfra.get_host(f"ansible://{name}")  # the inventories of ANSIBLE_INVENTORY


@pytest.fixture(scope="session")
def pbx(converged: Lab):
    return testinfra_host("pbx")


@pytest.fixture(scope="session")
def carrier(converged: Lab):
    return testinfra_host("carrier")


@pytest.fixture(scope="session")
def phone(converged: Lab):
    return testinfra_host("phone")


# Session-scoped so that it skips before the module-scoped fixtures that need the switch (switch,
# sounds) are set up: pytest sets up wider scopes first, and those errored on a lab without it.
@pytest.fixture(scope="session")
def needs_freeswitch(converged: Lab) -> None:
    if not converged.freeswitch_installed:
        pytest.skip(
            "FreeSWITCH was not installed in the lab: set FREESWITCH_SOURCE (source archives), FREESWITCH_PREFIX (a build) or SIGNALWIRE_TOKEN"
        )
