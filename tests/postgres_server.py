"""A throwaway PostgreSQL cluster from Debian's packages, for the tests and the benchmark.

`initdb` refuses to run as root, so under root the cluster is made and run as
the ``postgres`` user (``runuser``), in a temporary directory it owns. It
listens on a free loopback port with password (SCRAM) authentication, so the
ledger's connections carry a password as a site's would; its socket stays in
its own directory. `stop` removes everything.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

POSTGRES_BIN = Path(os.environ.get("BIZPBX_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"


def postgres_missing() -> str | None:
    """Why no throwaway cluster can be started here, or None."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (POSTGRES_BIN / tool).is_file():
            return f"{POSTGRES_BIN / tool} is missing: install Debian's postgresql package (or set BIZPBX_POSTGRES_BIN)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root needs runuser to start PostgreSQL as the postgres user"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayPostgres:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="bizpbx-pg-"))
        self.data = self.directory / "data"
        self.port = _free_port()
        self.password = secrets.token_urlsafe(18)
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, SUPERUSER, SUPERUSER)
            self._as_owner = ["runuser", "-u", SUPERUSER, "--"]

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self._as_owner, *command], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> ThrowawayPostgres:
        password_file = self.directory / "superuser-password"
        password_file.write_text(self.password)
        if self._as_owner:
            shutil.chown(password_file, SUPERUSER, SUPERUSER)
        self._run(
            str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(password_file),
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C",
        )
        password_file.unlink()
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off -c max_connections=200"
        self._run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.directory / "log"), "-w", "-t", "60", "start")
        return self

    def dsn(self, database: str = "postgres") -> str:
        """Where to connect, without the password (it comes from the site's secrets)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), password=self.password, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        try:
            if self.data.is_dir():
                self._run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
