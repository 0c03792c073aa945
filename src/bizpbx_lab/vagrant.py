"""This machine's side of the Vagrant lab (libvirt): the storage pool, the two isolated networks
and the VMs' own tinyproxy, from ``inventory/vagrant``. The VMs themselves are Vagrant's
(``vagrant up --provider=libvirt``); ``make vagrant-up`` runs ``up`` first, ``make vagrant-down``
runs ``down`` after ``vagrant destroy``.

``python -m bizpbx_lab.vagrant up|down`` (root). Nothing here touches the nspawn lab: its own
state directory, proxy, port, networks and bridges.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

import yaml

from bizpbx_lab.local import LabError, log, run
from bizpbx_lab.plan import REPO_ROOT, PlanError
from bizpbx_lab.proxy import ensure_proxy, stop_proxy
from bizpbx_lab.site_secrets import ensure_lab_secrets, keep_provisioned_secrets

INVENTORY = REPO_ROOT / "inventory/vagrant"
STATE_DIR = Path(os.environ.get("BIZPBX_VAGRANT_STATE", "/var/lib/bizpbx-vagrant"))
VIRSH = ("virsh", "--quiet", "--connect", "qemu:///system")
# The secrets the VMs were provisioned with: their own record, never the nspawn lab's (whose
# machines, on the same addresses, may hold other passwords).
PROVISIONED_SECRETS = STATE_DIR / "site.secrets.yml"


@dataclasses.dataclass(frozen=True)
class VmNetworks:
    management: str
    management_bridge: str
    subnet: ipaddress.IPv4Network
    host: str  # this machine on the management network: the proxy listens here
    proxy_port: int
    lab: str
    lab_bridge: str
    pool: str
    reserved: dict[str, tuple[str, str]]  # VM name -> (MAC, management address)


def _field(data: dict, path: str, where: Path):
    value: object = data
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise PlanError(f"{where}: {path} is missing")
        value = value[key]
    return value


def read_networks(inventory: Path = INVENTORY) -> VmNetworks:
    """The VMs' networks as inventory/vagrant gives them; PlanError naming the file and entry if it cannot be."""
    group_vars, hosts_file = inventory / "group_vars/all.yml", inventory / "hosts.yml"
    data = yaml.safe_load(group_vars.read_text(encoding="utf-8")) or {}
    hosts = (yaml.safe_load(hosts_file.read_text(encoding="utf-8")) or {}).get("all", {}).get("hosts") or {}
    try:
        subnet = ipaddress.IPv4Network(_field(data, "vagrant__network.management.subnet", group_vars))
        host = ipaddress.IPv4Address(_field(data, "vagrant__network.management.host", group_vars))
    except ValueError as error:
        raise PlanError(f"{group_vars}: vagrant__network.management: {error}") from None
    if host not in subnet:
        raise PlanError(f"{group_vars}: vagrant__network.management.host: {host} is not on {subnet}")
    reserved = {}
    for name, variables in hosts.items():
        where = f"{hosts_file}: all.hosts.{name}"
        mac, address = (_field(variables or {}, f"vagrant__management.{key}", hosts_file) for key in ("mac", "address"))
        if ipaddress.IPv4Address(address) not in subnet or str(address) == str(host):
            raise PlanError(f"{where}.vagrant__management.address: {address} is not a VM's address on {subnet}")
        # The address ssh is sent to must be the one DHCP gives the VM.
        if f"HostName={address}" not in str(variables.get("ansible_ssh_common_args", "")).split():
            raise PlanError(f"{where}.ansible_ssh_common_args: must send ssh to HostName={address}")
        reserved[name] = (str(mac), str(address))
    if not reserved:
        raise PlanError(f"{hosts_file}: all.hosts lists no VM")
    return VmNetworks(
        management=_field(data, "vagrant__network.management.name", group_vars),
        management_bridge=_field(data, "vagrant__network.management.bridge", group_vars),
        subnet=subnet,
        host=str(host),
        proxy_port=int(_field(data, "vagrant__network.management.proxy_port", group_vars)),
        lab=_field(data, "vagrant__network.lab.name", group_vars),
        lab_bridge=_field(data, "vagrant__network.lab.bridge", group_vars),
        pool=_field(data, "vagrant__network.pool", group_vars),
        reserved=reserved,
    )


def management_xml(nets: VmNetworks) -> str:
    """No <forward>: isolated. DHCP gives each VM its reserved address and no router; no DNS at all."""
    first = nets.subnet.network_address
    hosts = "".join(f"      <host mac={quoteattr(mac)} name={quoteattr(name)} ip={quoteattr(ip)}/>\n" for name, (mac, ip) in nets.reserved.items())
    return (
        f"<network>\n  <name>{nets.management}</name>\n"
        f"  <bridge name={quoteattr(nets.management_bridge)} stp='on' delay='0'/>\n"
        "  <dns enable='no'/>\n"
        f"  <ip address={quoteattr(nets.host)} netmask={quoteattr(str(nets.subnet.netmask))}>\n"
        f"    <dhcp>\n      <range start='{first + 200}' end='{first + 250}'/>\n{hosts}    </dhcp>\n"
        "  </ip>\n</network>\n"
    )


def lab_xml(nets: VmNetworks) -> str:
    """No <forward> and no <ip>: a switch between the VMs, with no address of this machine on it."""
    return f"<network>\n  <name>{nets.lab}</name>\n  <bridge name={quoteattr(nets.lab_bridge)} stp='on' delay='0'/>\n</network>\n"


def virsh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(*VIRSH, *args, check=check, capture=True)


def ensure_kvm() -> None:
    """/dev/kvm open to the kvm group (libvirt's qemu user is in it), as udev leaves it on Debian;
    a machine without udev may have it root's alone, and qemu then fails to start."""
    kvm = Path("/dev/kvm")
    if not kvm.exists():
        raise LabError("/dev/kvm is missing: this machine cannot run KVM VMs")
    if kvm.stat().st_mode & 0o060 != 0o060 or kvm.group() != "kvm":
        shutil.chown(kvm, group="kvm")
        kvm.chmod(0o660)


def ensure_libvirtd() -> None:
    """libvirtd answering; started here (with virtlogd) on a machine whose init is not systemd."""
    ensure_kvm()
    if virsh("version", check=False).returncode == 0:
        return
    if Path("/run/systemd/system").is_dir():
        run("systemctl", "start", "libvirtd")
    else:
        for daemon in ("virtlogd", "libvirtd"):
            if shutil.which(daemon) is None:
                raise LabError(f"{daemon} is missing (Debian: libvirt-daemon-system qemu-system-x86)")
            run(daemon, "--daemon")
    for _ in range(50):
        if virsh("version", check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise LabError("libvirtd does not answer on qemu:///system")


def ensure_network(name: str, xml: str) -> None:
    if virsh("net-info", name, check=False).returncode != 0:
        definition = STATE_DIR / f"{name}.xml"
        definition.write_text(xml)
        virsh("net-define", str(definition))
    if "Active:         yes" not in virsh("net-info", name).stdout:
        virsh("net-start", name)


def ensure_pool(name: str) -> None:
    if virsh("pool-info", name, check=False).returncode != 0:
        images = STATE_DIR / "images"
        images.mkdir(exist_ok=True)
        virsh("pool-define-as", name, "dir", "--target", str(images))
    if "State:          running" not in virsh("pool-info", name).stdout:
        virsh("pool-start", name)


def up(nets: VmNetworks) -> None:
    if os.geteuid() != 0:
        raise LabError("the Vagrant lab's networks need root")
    if not (STATE_DIR / "id_ed25519").exists():
        raise LabError(f"no box key in {STATE_DIR}: build the box first (make vagrant-box)")
    # Ansible's shared SSH connections to the VMs (inventory/vagrant: ansible_control_path_dir).
    (STATE_DIR / "cp").mkdir(mode=0o700, exist_ok=True)
    ensure_libvirtd()
    ensure_pool(nets.pool)
    ensure_network(nets.management, management_xml(nets))
    ensure_network(nets.lab, lab_xml(nets))
    allowed = tuple(ip for _mac, ip in nets.reserved.values())
    ensure_proxy(STATE_DIR, nets.host, nets.proxy_port, allowed, "bizpbx Vagrant lab: the only way the VMs reach Debian's packages.")
    log(f"networks {nets.management} ({nets.host}, tinyproxy :{nets.proxy_port}) and {nets.lab} up")


def down(nets: VmNetworks) -> None:
    """After `vagrant destroy`: the proxy, both networks, the pool and the VMs' known host keys."""
    stop_proxy(STATE_DIR)
    if virsh("version", check=False).returncode == 0:
        for name in (nets.management, nets.lab):
            if virsh("net-info", name, check=False).returncode == 0:
                virsh("net-destroy", name, check=False)
                virsh("net-undefine", name)
        if virsh("pool-info", nets.pool, check=False).returncode == 0:
            virsh("pool-destroy", nets.pool, check=False)
            virsh("pool-undefine", nets.pool)
    (STATE_DIR / "known_hosts").unlink(missing_ok=True)
    PROVISIONED_SECRETS.unlink(missing_ok=True)
    log("the Vagrant lab's networks, proxy and pool removed (the box and its key stay)")


def secrets() -> None:
    """Before the VMs are converged (the Vagrantfile's trigger): the checkout's lab secrets, made
    or taken from the VMs' record, become the VMs' record."""
    ensure_lab_secrets(PROVISIONED_SECRETS)
    keep_provisioned_secrets(PROVISIONED_SECRETS)


def main(argv: list[str]) -> int:
    if argv not in (["up"], ["down"], ["secrets"]):
        print("usage: python -m bizpbx_lab.vagrant up|down|secrets", file=sys.stderr)
        return 2
    try:
        if argv == ["secrets"]:
            secrets()
            return 0
        nets = read_networks()
        up(nets) if argv == ["up"] else down(nets)
    except (LabError, PlanError) as exc:
        print(f"vagrant lab: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
