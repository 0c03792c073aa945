"""The lab's machines: Debian 12 root file systems booted with systemd-nspawn,
each in its host's network namespace, reached over SSH with the lab's key."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from bizpbx_lab.local import CACHE_DIR, STATE_DIR, LabError, cmdline, log, run
from bizpbx_lab.plan import Host

# The Debian release of the lab's hosts: bookworm, or trixie (BIZPBX_LAB_SUITE=trixie) to try a
# release on Debian 13, where the preflight role refuses the FreeSWITCH methods that cannot work.
SUITES = ("bookworm", "trixie")
SUITE = os.environ.get("BIZPBX_LAB_SUITE", "bookworm")
MIRROR = os.environ.get("BIZPBX_LAB_MIRROR", "http://deb.debian.org/debian")

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


SSH_KEY = STATE_DIR / "id_ed25519"
KNOWN_HOSTS = STATE_DIR / "known_hosts"


def root(host: Host) -> Path:
    return STATE_DIR / "machines" / host.name


def pidfile(host: Host) -> Path:
    return STATE_DIR / f"{host.name}.pid"


def logfile(host: Host) -> Path:
    return STATE_DIR / f"{host.name}.console.log"


def rootfs_cache() -> Path:
    key = hashlib.sha256(f"{SUITE} {MIRROR} {' '.join(ROOTFS_PACKAGES)}".encode()).hexdigest()[:10]
    return CACHE_DIR / f"{SUITE}-{key}"


def ensure_rootfs_cache() -> Path:
    """debootstrap once; a finished tree is renamed into place, so a cache is never half-made."""
    if SUITE not in SUITES:
        raise LabError(f"BIZPBX_LAB_SUITE={SUITE}: the lab's hosts run one of {', '.join(SUITES)}")
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


def make_machine(host: Host, cache: Path, proxy: str) -> None:
    """Copy the cached rootfs and give it its identity: hostname, machine id, host keys, root's key, and
    `proxy` (host:port, the lab's HTTP proxy) for apt."""
    if (root(host) / ".bizpbx-lab-ready").exists():
        return
    tmp = root(host).with_name(host.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    run("cp", "-a", "--reflink=auto", str(cache), str(tmp))
    (tmp / "etc/hostname").write_text(f"{host.name}\n")
    (tmp / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n::1\tlocalhost ip6-localhost\n")
    (tmp / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    (tmp / "etc/apt/apt.conf.d/80bizpbx-lab-proxy").write_text(
        "// The lab reaches Debian's packages only through the proxy on this machine.\n"
        f'Acquire::http::Proxy "http://{proxy}";\n'
        f'Acquire::https::Proxy "http://{proxy}";\n'
    )
    (tmp / "etc/resolv.conf").unlink(missing_ok=True)
    (tmp / "etc/resolv.conf").write_text("# the lab has no DNS: packages come through the HTTP proxy\n")
    ssh_dir = tmp / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(SSH_KEY.with_suffix(".pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    run("ssh-keygen", "-q", "-A", "-f", str(tmp))
    tmp.rename(root(host))
    (root(host) / ".bizpbx-lab-ready").touch()



def write_known_hosts(hosts: tuple[Host, ...]) -> None:
    lines = []
    for host in hosts:
        pub = (root(host) / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        lines.append(f"{host.address} {pub[0]} {pub[1]}\n")
    KNOWN_HOSTS.write_text("".join(lines))



def machine_pid(host: Host) -> int | None:
    """The pid of the systemd-nspawn we started for this host, if it is still that process."""
    try:
        pid = int(pidfile(host).read_text().strip())
    except (OSError, ValueError):
        return None
    command = cmdline(pid)
    return pid if "systemd-nspawn" in command and str(root(host)) in command else None


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
        f"--machine={host.netns}",
        f"--hostname={host.name}",
        f"--directory={root(host)}",
    ]
    if host.group == "bizpbx_pbx" and freeswitch_prefix:
        args.append(f"--bind-ro={freeswitch_prefix}")
    with open(logfile(host), "ab") as console:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True
        )
    pidfile(host).write_text(f"{proc.pid}\n")
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
            raise LabError(f"{host.name}: systemd-nspawn exited (see {logfile(host)})")
        if ssh_ready(host):
            return
        time.sleep(1)
    raise LabError(f"{host.name}: no SSH on {host.address} after {timeout:.0f}s (see {logfile(host)})")


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
    pidfile(host).unlink(missing_ok=True)



def remove(host: Host) -> None:
    """The machine's files: its root file system (whole or half-made) and its console log."""
    for path in (root(host), root(host).with_name(host.name + ".tmp")):
        if path.exists():
            shutil.rmtree(path)
    logfile(host).unlink(missing_ok=True)
