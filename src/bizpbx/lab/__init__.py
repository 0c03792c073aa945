"""The local lab: three Debian 12 hosts booted with systemd-nspawn, each in its own network namespace.

Run as root: ``python -m bizpbx.lab up|converge|down|status`` (``make lab`` / ``make lab-down``).

Why Python rather than a shell script: the same code is imported by the pytest session fixture
in ``tests/hosts/`` (no second copy of the address plan), the teardown has to be careful about
which processes it signals (only the ``systemd-nspawn`` it started, checked by pid *and* command
line), and every step must be idempotent and leave nothing half-made when it fails.

Address plan (the one the demo site ``inventory/lab/site.yml`` is written for): one private /24,
10.231.0.0/24, on a bridge that lives in a network namespace of its own (``bizpbx-lan``), so the
bridge is not on this machine's own network and nothing is routed or NATed out of the lab::

    10.231.0.1    this machine (veth bzl-lan), the lab's tinyproxy: the ONLY way a lab host
                  reaches Debian's packages
    10.231.0.10   pbx      (FreeSWITCH + controller)      namespace bizpbx-pbx,     eth0
    10.231.0.20   carrier  (Kamailio, the SIP provider)   namespace bizpbx-carrier, eth0
    10.231.0.30   phone    (SIPp, the employees' phones)  namespace bizpbx-phone,   eth0
    10.231.0.254  nobody: the lab hosts' default route points here, into nothing, only so that
                  "what is my address" (FreeSWITCH's $${local_ip_v4}) answers 10.231.0.x as on
                  a server; a packet for the outside dies unanswered on the lab's bridge
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

SUITE = "bookworm"
MIRROR = os.environ.get("BIZPBX_LAB_MIRROR", "http://deb.debian.org/debian")
CACHE_DIR = Path(os.environ.get("BIZPBX_LAB_CACHE", "/var/cache/bizpbx-lab"))
STATE_DIR = Path(os.environ.get("BIZPBX_LAB_STATE", "/var/lib/bizpbx-lab"))
PROXY_PORT = 8888
REPO_ROOT = Path(__file__).resolve().parents[3]

# Only what Ansible needs to manage a host; everything else is the roles' job.
ROOTFS_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",
    "iproute2",
    "ca-certificates",
)

# The commands `up` needs on this machine, and the Debian package that brings each.
HOST_TOOLS = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "tinyproxy": "tinyproxy",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


LAN_NETNS = "bizpbx-lan"
LAN_BRIDGE = "br0"
LAN_PREFIX = 24
GATEWAY = "10.231.0.1"  # this machine's side, where tinyproxy listens
VOID = "10.231.0.254"  # the default route's next hop: no one has this address
UPLINK = "bzl-lan"  # this machine's veth into the lab's bridge


@dataclasses.dataclass(frozen=True)
class Host:
    name: str
    address: str  # on the lab /24; SSH, SIP, everything

    @property
    def netns(self) -> str:
        return f"bizpbx-{self.name}"

    @property
    def port(self) -> str:
        """The bridge port (in bizpbx-lan) of the host's veth; the host's end is eth0."""
        return f"bzl-{self.name}"

    @property
    def root(self) -> Path:
        return STATE_DIR / "machines" / self.name

    @property
    def pidfile(self) -> Path:
        return STATE_DIR / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return STATE_DIR / f"{self.name}.console.log"


HOSTS = (Host("pbx", "10.231.0.10"), Host("carrier", "10.231.0.20"), Host("phone", "10.231.0.30"))
BY_NAME = {h.name: h for h in HOSTS}

SSH_KEY = STATE_DIR / "id_ed25519"
KNOWN_HOSTS = STATE_DIR / "known_hosts"
PROXY_DIR = STATE_DIR / "proxy"  # owned by the tinyproxy user, which writes its pid file and log there
PROXY_CONF = STATE_DIR / "tinyproxy.conf"
PROXY_PID = PROXY_DIR / "tinyproxy.pid"


class LabError(RuntimeError):
    """A step of the lab failed; the message says which and why."""


def log(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def run(*args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, text=True, capture_output=capture, check=False)
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip() if capture else ""
        raise LabError(f"`{' '.join(args)}` exited {result.returncode}{': ' + detail if detail else ''}")
    return result


# --- preconditions -------------------------------------------------------------------------


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


# --- root file system ----------------------------------------------------------------------


def rootfs_cache() -> Path:
    key = hashlib.sha256(f"{SUITE} {MIRROR} {' '.join(ROOTFS_PACKAGES)}".encode()).hexdigest()[:10]
    return CACHE_DIR / f"{SUITE}-{key}"


def ensure_rootfs_cache() -> Path:
    """debootstrap once; a finished tree is renamed into place, so a cache is never half-made."""
    cache = rootfs_cache()
    if cache.is_dir():
        return cache
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    log(f"debootstrap {SUITE} into {cache} (once; about a minute)")
    run(
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(ROOTFS_PACKAGES)}",
        SUITE,
        str(tmp),
        MIRROR,
    )
    # No host keys in the cache: each machine gets its own.
    for key in (tmp / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (tmp / "var/cache/apt/archives").mkdir(parents=True, exist_ok=True)
    for deb in (tmp / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    tmp.rename(cache)
    return cache


def ensure_ssh_key() -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not SSH_KEY.exists():
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bizpbx-lab", "-f", str(SSH_KEY))


def make_machine(host: Host, cache: Path) -> None:
    """Copy the cached rootfs and give it its identity: hostname, machine id, host keys, root's key, apt proxy."""
    if (host.root / ".bizpbx-lab-ready").exists():
        return
    tmp = host.root.with_name(host.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    run("cp", "-a", "--reflink=auto", str(cache), str(tmp))
    (tmp / "etc/hostname").write_text(f"{host.name}\n")
    (tmp / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n::1\tlocalhost ip6-localhost\n")
    (tmp / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    (tmp / "etc/apt/apt.conf.d/80bizpbx-lab-proxy").write_text(
        "// The lab reaches Debian's packages only through the proxy on this machine.\n"
        f'Acquire::http::Proxy "http://{GATEWAY}:{PROXY_PORT}";\n'
        f'Acquire::https::Proxy "http://{GATEWAY}:{PROXY_PORT}";\n'
    )
    (tmp / "etc/resolv.conf").unlink(missing_ok=True)
    (tmp / "etc/resolv.conf").write_text("# the lab has no DNS: packages come through the HTTP proxy\n")
    ssh_dir = tmp / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(SSH_KEY.with_suffix(".pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    run("ssh-keygen", "-q", "-A", "-f", str(tmp))
    tmp.rename(host.root)
    (host.root / ".bizpbx-lab-ready").touch()


LAB_SITE = REPO_ROOT / "inventory/lab/site.yml"
LAB_SECRETS = LAB_SITE.with_name("site.secrets.yml")


def ensure_lab_secrets() -> None:
    """Random secrets for the lab site (ESL, every trunk), once, in site.secrets.yml beside it (0600, not in git).

    The inventory hands them to the roles as `bizpbx__secrets`, as ansible-vault would in production.
    """
    if LAB_SECRETS.exists():
        return
    import yaml  # a dependency of bizpbx (pydantic-settings[yaml])

    site = yaml.safe_load(LAB_SITE.read_text()) or {}
    data = {
        "esl": {"password": secrets.token_urlsafe(24)},
        "trunks": {name: {"password": secrets.token_urlsafe(24)} for name in site.get("trunks") or {}},
    }
    tmp = LAB_SECRETS.with_name(LAB_SECRETS.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Generated by `make lab` for the lab only; `make lab-down` removes it.\n")
        yaml.safe_dump(data, out, sort_keys=True)
    tmp.rename(LAB_SECRETS)


def write_known_hosts() -> None:
    lines = []
    for host in HOSTS:
        pub = (host.root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        lines.append(f"{host.address} {pub[0]} {pub[1]}\n")
    KNOWN_HOSTS.write_text("".join(lines))


# --- network -------------------------------------------------------------------------------


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def link_exists(name: str, netns: str | None = None) -> bool:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return run(*prefix, "link", "show", name, check=False, capture=True).returncode == 0


def ensure_network() -> None:
    if not netns_exists(LAN_NETNS):
        run("ip", "netns", "add", LAN_NETNS)
    if not link_exists(LAN_BRIDGE, LAN_NETNS):
        run("ip", "-n", LAN_NETNS, "link", "add", LAN_BRIDGE, "type", "bridge")
    run("ip", "-n", LAN_NETNS, "link", "set", LAN_BRIDGE, "up")
    if not link_exists(UPLINK):
        run("ip", "link", "add", UPLINK, "type", "veth", "peer", "name", "uplink", "netns", LAN_NETNS)
    run("ip", "-n", LAN_NETNS, "link", "set", "uplink", "master", LAN_BRIDGE, "up")
    run("ip", "addr", "replace", f"{GATEWAY}/{LAN_PREFIX}", "dev", UPLINK)
    run("ip", "link", "set", UPLINK, "up")
    for host in HOSTS:
        if not netns_exists(host.netns):
            run("ip", "netns", "add", host.netns)
        run("ip", "-n", host.netns, "link", "set", "lo", "up")
        if not link_exists(host.port, LAN_NETNS):
            if link_exists("eth0", host.netns):
                run("ip", "-n", host.netns, "link", "del", "eth0")
            run("ip", "-n", LAN_NETNS, "link", "add", host.port, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        run("ip", "-n", LAN_NETNS, "link", "set", host.port, "master", LAN_BRIDGE, "up")
        run("ip", "-n", host.netns, "addr", "replace", f"{host.address}/{LAN_PREFIX}", "dev", "eth0")
        run("ip", "-n", host.netns, "link", "set", "eth0", "up")
        run("ip", "-n", host.netns, "route", "replace", "default", "via", VOID, "dev", "eth0")


def proxy_pid() -> int | None:
    try:
        pid = int(PROXY_PID.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(_cmdline(pid).split(" ")[0]).name == "tinyproxy" else None


def ensure_proxy() -> None:
    """A tinyproxy of our own, listening on the lab side of this machine only, allowing only the lab hosts."""
    if proxy_pid() is not None:
        return
    PROXY_CONF.write_text(
        "# bizpbx lab: the only way the lab hosts reach Debian's packages.\n"
        "User tinyproxy\nGroup tinyproxy\n"
        f"Port {PROXY_PORT}\nListen {GATEWAY}\n"
        "Timeout 600\n"
        f"PidFile \"{PROXY_PID}\"\n"
        f"LogFile \"{PROXY_DIR / 'tinyproxy.log'}\"\n"
        "LogLevel Notice\nMaxClients 50\n"
        + "".join(f"Allow {h.address}\n" for h in HOSTS)
        + "ConnectPort 443\n"
    )
    STATE_DIR.chmod(0o711)
    PROXY_DIR.mkdir(exist_ok=True)
    shutil.chown(PROXY_DIR, "tinyproxy", "tinyproxy")
    PROXY_DIR.chmod(0o750)
    PROXY_PID.unlink(missing_ok=True)
    run("tinyproxy", "-c", str(PROXY_CONF))
    for _ in range(50):
        if proxy_pid() is not None:
            return
        time.sleep(0.1)
    raise LabError(f"tinyproxy did not start (see {PROXY_DIR / 'tinyproxy.log'})")


# --- machines ------------------------------------------------------------------------------


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def machine_pid(host: Host) -> int | None:
    """The pid of the systemd-nspawn we started for this host, if it is still that process."""
    try:
        pid = int(host.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    cmdline = _cmdline(pid)
    return pid if "systemd-nspawn" in cmdline and str(host.root) in cmdline else None


def boot(host: Host, freeswitch_prefix: str | None) -> None:
    if machine_pid(host) is not None:
        return
    args = [
        "systemd-nspawn",
        "--quiet",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--network-namespace-path=/run/netns/{host.netns}",
        "--capability=CAP_NET_ADMIN",
        f"--machine=bizpbx-{host.name}",
        f"--hostname={host.name}",
        f"--directory={host.root}",
    ]
    if host.name == "pbx" and freeswitch_prefix:
        args.append(f"--bind-ro={freeswitch_prefix}")
    with open(host.logfile, "ab") as console:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True
        )
    host.pidfile.write_text(f"{proc.pid}\n")
    # Until the child has exec'd, its command line is still this interpreter's: machine_pid would
    # take the machine for gone (a reboot's wait_for_ssh failed on that right after the boot).
    for _ in range(50):
        if machine_pid(host) is not None or proc.poll() is not None:
            return
        time.sleep(0.1)


def ssh_args(host: Host) -> list[str]:
    return [
        "ssh",
        "-i", str(SSH_KEY),
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={KNOWN_HOSTS}",
        "-o", "ConnectTimeout=3",
        f"root@{host.address}",
    ]  # fmt: skip


def ssh_ready(host: Host) -> bool:
    try:
        with socket.create_connection((host.address, 22), timeout=1):
            pass
    except OSError:
        return False
    return subprocess.run([*ssh_args(host), "true"], capture_output=True, check=False).returncode == 0


def wait_for_ssh(host: Host, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if machine_pid(host) is None:
            raise LabError(f"{host.name}: systemd-nspawn exited (see {host.logfile})")
        if ssh_ready(host):
            return
        time.sleep(1)
    raise LabError(f"{host.name}: no SSH on {host.address} after {timeout:.0f}s (see {host.logfile})")


def stop(host: Host) -> None:
    pid = machine_pid(host)
    if pid is not None:
        log(f"stopping {host.name} (systemd-nspawn pid {pid})")
        # systemd-nspawn turns SIGTERM into an orderly shutdown of the container's systemd.
        os.kill(pid, signal.SIGTERM)
        for _ in range(300):
            if machine_pid(host) is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
            for _ in range(50):
                if machine_pid(host) is None:
                    break
                time.sleep(0.1)
    host.pidfile.unlink(missing_ok=True)


# --- commands ------------------------------------------------------------------------------


def up() -> None:
    reason = why_impossible()
    if reason:
        raise LabError(reason)
    ensure_host_tools()
    ensure_ssh_key()
    cache = ensure_rootfs_cache()
    prefix = os.environ.get("FREESWITCH_PREFIX") or None
    if prefix and not Path(prefix, "bin/freeswitch").is_file():
        raise LabError(f"FREESWITCH_PREFIX={prefix} has no bin/freeswitch")
    for host in HOSTS:
        make_machine(host, cache)
    write_known_hosts()
    ensure_lab_secrets()
    ensure_network()
    ensure_proxy()
    for host in HOSTS:
        boot(host, prefix)
    for host in HOSTS:
        wait_for_ssh(host)
        log(f"{host.name} is up at {host.address}")


def converge(extra: list[str]) -> int:
    """Run playbooks/site.yml against the lab inventory with this virtualenv's ansible-playbook."""
    playbook = Path(sys.executable).with_name("ansible-playbook")
    cmd = [str(playbook), "-i", str(REPO_ROOT / "inventory/lab/hosts.yml"), str(REPO_ROOT / "playbooks/site.yml"), *extra]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"))
    log(" ".join(cmd))
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, check=False).returncode


def down() -> None:
    for host in HOSTS:
        stop(host)
    pid = proxy_pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
    PROXY_PID.unlink(missing_ok=True)
    if link_exists(UPLINK):
        run("ip", "link", "del", UPLINK)
    if netns_exists(LAN_NETNS):
        run("ip", "netns", "del", LAN_NETNS)
    for host in HOSTS:
        if netns_exists(host.netns):
            run("ip", "netns", "del", host.netns)
        for path in (host.root, host.root.with_name(host.name + ".tmp")):
            if path.exists():
                shutil.rmtree(path)
        host.logfile.unlink(missing_ok=True)
    KNOWN_HOSTS.unlink(missing_ok=True)
    LAB_SECRETS.unlink(missing_ok=True)
    log("lab removed (the rootfs cache stays in " + str(CACHE_DIR) + ")")


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
