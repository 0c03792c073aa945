"""An ACME server for the freeswitch role's certbot, offline: Debian's pebble (Let's Encrypt's
RFC 8555 test server) in a sandbox of its own, a network namespace with only loopback (certbot's
http-01 server and pebble's validation on port 80, as in production, without touching the
machine's ports) and a mount namespace whose /etc, /var and /usr/local are overlays on the test's
directory (certbot's /etc/letsencrypt, the role's helpers and certbot.service's drop-in land
there, never on the machine). The certificate's name resolves to 127.0.0.1 for pebble alone:
pebble asks pebble-challtestsrv's DNS, which knows that one name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

OVERLAID = ("/etc", "/var", "/usr/local")
DIRECTORY_URL = "https://127.0.0.1:14000/dir"
MANAGEMENT = "127.0.0.1:15000"
DNS = "127.0.0.1:8053"
DNS_MANAGEMENT = "127.0.0.1:8055"
TOOLS = ("pebble", "pebble-challtestsrv", "certbot", "openssl", "unshare", "nsenter", "ip")


def skip_unless_runnable() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian's pebble and certbot; .ci/run installs them)")
    if os.geteuid() != 0:
        pytest.skip("needs root: the sandbox's network and mount namespaces, and certbot on port 80")


class Sandbox:
    """Runs commands in the namespaces a sleeping holder process keeps alive."""

    def __init__(self, root: Path) -> None:
        self.root = root
        mounts = []
        for lower in OVERLAID:
            upper, work = self.upper(lower), root / "work" / lower.strip("/").replace("/", "_")
            upper.mkdir(parents=True)
            work.mkdir(parents=True)
            mounts.append(f"mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={work} {lower}")
        script = " && ".join(["ip link set lo up", *mounts, "echo ready", "exec sleep infinity"])
        self.holder = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script], stdout=subprocess.PIPE, text=True)
        if self.holder.stdout.readline().strip() != "ready":
            self.holder.kill()
            pytest.skip("cannot make the sandbox's network and mount namespaces here (unshare, overlay mounts)")

    def upper(self, path: str) -> Path:
        """Where what the sandbox wrote under `path` (one of OVERLAID, or below it) is seen from outside."""
        top = next(lower for lower in OVERLAID if path == lower or path.startswith(lower + "/"))
        return self.root / "upper" / top.strip("/").replace("/", "_") / path.removeprefix(top).lstrip("/")

    def argv(self, *command: str) -> list[str]:
        # --wd=.: the caller's working directory (entering a mount namespace moves it to the root).
        return ["nsenter", "--target", str(self.holder.pid), "--net", "--mount", "--wd=.", "--", *command]

    def run(self, *command: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*command), capture_output=True, text=True, check=False, env=env, stdin=subprocess.DEVNULL)

    def wait_for(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        code = f"import socket, time\nfor _ in range(100):\n    try:\n        socket.create_connection(({host!r}, {port}), 1).close(); break\n    except OSError: time.sleep(0.1)\nelse: raise SystemExit('nothing accepts on {address}')"
        waited = self.run("python3", "-c", code)
        assert waited.returncode == 0, waited.stderr

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait()


def make_tls_pair(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signed: pebble's HTTPS. Returns (CA, cert, key)."""
    ca, ca_key, cert, key = (folder / name for name in ("ca.pem", "ca.key", "cert.pem", "key.pem"))
    openssl = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"]
    subprocess.run([*openssl, "-subj", "/CN=bizpbx test ACME CA", "-keyout", str(ca_key), "-out", str(ca)], capture_output=True, check=True)
    subprocess.run(
        [*openssl, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-CA", str(ca), "-CAkey", str(ca_key), "-keyout", str(key), "-out", str(cert)],
        capture_output=True, check=True,
    )
    return ca, cert, key


@contextmanager
def pebble(root: Path, domain: str) -> Iterator[tuple[Sandbox, Path]]:
    """The sandbox with pebble serving DIRECTORY_URL and validating `domain` at 127.0.0.1:80.
    Yields it and the CA file that vouches for pebble's HTTPS."""
    skip_unless_runnable()
    (root / "pki").mkdir(parents=True)
    ca, cert, key = make_tls_pair(root / "pki")
    config = {"pebble": {
        "listenAddress": DIRECTORY_URL.split("/")[2], "managementListenAddress": MANAGEMENT, "certificate": str(cert), "privateKey": str(key),
        "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": False,
    }}
    (root / "pebble.json").write_text(json.dumps(config), encoding="utf-8")
    sandbox = Sandbox(root)
    started: list[subprocess.Popen] = []
    try:
        # No default addresses: a name the test did not add resolves to nothing.
        dns = ["pebble-challtestsrv", "-dns01", DNS, "-management", DNS_MANAGEMENT, "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "", "-defaultIPv6", ""]
        started.append(subprocess.Popen(sandbox.argv(*dns), stdout=(root / "challtestsrv.log").open("w"), stderr=subprocess.STDOUT))
        sandbox.wait_for(DNS_MANAGEMENT)
        body = json.dumps({"host": domain, "addresses": ["127.0.0.1"]})
        add = f"import urllib.request\nurllib.request.urlopen(urllib.request.Request('http://{DNS_MANAGEMENT}/add-a', data={body!r}.encode()))"
        added = sandbox.run("python3", "-c", add)
        assert added.returncode == 0, added.stderr
        # No random sleeps before validating, and no valid nonce refused (certbot retries one, not two in a row).
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
        started.append(subprocess.Popen(sandbox.argv("pebble", "-config", str(root / "pebble.json"), "-dnsserver", DNS), env=env, stdout=(root / "pebble.log").open("w"), stderr=subprocess.STDOUT))
        sandbox.wait_for(DIRECTORY_URL.split("/")[2])
        yield sandbox, ca
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=10)
        sandbox.close()


def pebble_root(sandbox: Sandbox, ca: Path) -> str:
    """The root pebble made at its start (its management interface gives it)."""
    code = f"import ssl, urllib.request\nprint(urllib.request.urlopen('https://{MANAGEMENT}/roots/0', context=ssl.create_default_context(cafile={str(ca)!r})).read().decode(), end='')"
    fetched = sandbox.run("python3", "-c", code)
    assert fetched.returncode == 0, fetched.stderr
    return fetched.stdout
