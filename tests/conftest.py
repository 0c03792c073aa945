"""Shared fixtures: where the repository and ../shared are, and the demo site."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
LAB_SITE = REPO / "inventory" / "lab" / "site.yml"

# What the demo site needs from the environment to be complete.
LAB_SECRETS = {
    "BIZPBX_ESL__PASSWORD": "test-esl-secret-1",
    "BIZPBX_TRUNKS__CARRIER__PASSWORD": "test-carrier-secret",
}


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: CI and development need ../shared beside the repository")
    return SHARED


@pytest.fixture
def lab_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in LAB_SECRETS.items():
        monkeypatch.setenv(name, value)
    return LAB_SECRETS


@pytest.fixture
def lab_site_copy(tmp_path: Path, lab_secrets: dict[str, str]) -> Path:
    """The demo site copied to a temporary directory (generated passwords land there)."""
    for name in ("site.yml", "rates.csv"):
        (tmp_path / name).write_bytes((LAB_SITE.parent / name).read_bytes())
    return tmp_path / "site.yml"


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster for the session (Debian's postgresql package)."""
    from postgres_server import ThrowawayPostgres, postgres_missing

    missing = postgres_missing()
    if missing:
        pytest.skip(f"no PostgreSQL to test the ledger on: {missing}")
    server = ThrowawayPostgres().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_ledger(postgres_server):
    """A new, empty database of the session's cluster, as a site names it."""
    from uuid import uuid4

    from bizpbx.settings import PostgresLedger

    dsn = postgres_server.create_database(f"ledger_{uuid4().hex[:12]}")
    return PostgresLedger(dsn=dsn, password=postgres_server.password, node="node-a")


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_location(request: pytest.FixtureRequest, tmp_path: Path):
    """Where a test's ledger is: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "ledger.sqlite3"
    return request.getfixturevalue("postgres_ledger")
