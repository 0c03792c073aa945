"""The commands on a ledger in PostgreSQL (controller.postgresql): `bizpbx rate`,
`calls` and `invoice` read and write it as they do the SQLite file; a wrong or
missing password is named, never shown; backups are left to PostgreSQL's tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_rating_cli import call_line, write

from bizpbx.cli import main
from bizpbx.ledger import Ledger


@pytest.fixture
def on_postgres(postgres_ledger, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BIZPBX_CONTROLLER__POSTGRESQL__DSN", postgres_ledger.dsn)
    monkeypatch.setenv("BIZPBX_CONTROLLER__POSTGRESQL__PASSWORD", postgres_ledger.password.get_secret_value())
    return postgres_ledger


def test_rate_then_calls_and_invoice_on_postgresql(lab_site_copy: Path, on_postgres, tmp_path: Path, capsys) -> None:
    cdrs = write(tmp_path / "Master.csv", [call_line("a", "+74951112233", 61), call_line("e", "+79161234567", 60)])
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 0
    assert main(["rate", str(lab_site_copy), str(cdrs)]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[0].startswith("2 new, 0 already stored") and out.splitlines()[1].startswith("0 new, 2 already stored")
    assert not (tmp_path / "ledger.sqlite3").exists() and not lab_site_copy.with_name("ledger.sqlite3").exists()
    with Ledger(on_postgres) as ledger:
        assert ledger.count() == 2
    assert main(["calls", str(lab_site_copy), "--from", "2026-11-01", "--to", "2026-11-30", "--format", "json"]) == 0
    assert sorted(row["uuid"] for row in json.loads(capsys.readouterr().out)) == ["a", "e"]
    assert main(["invoice", str(lab_site_copy), "--month", "2026-11", "--org", "12"]) == 0
    assert main(["backup", str(lab_site_copy)]) == 2
    assert "pg_dump" in capsys.readouterr().err


def test_a_wrong_or_missing_password_is_named_and_never_shown(lab_site_copy: Path, on_postgres, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BIZPBX_CONTROLLER__POSTGRESQL__PASSWORD", "not-the-password-9f3k")
    assert main(["invoice", str(lab_site_copy), "--month", "2026-11"]) == 2
    err = capsys.readouterr().err
    assert "password authentication failed" in err and on_postgres.dsn in err and "not-the-password-9f3k" not in err
    monkeypatch.delenv("BIZPBX_CONTROLLER__POSTGRESQL__PASSWORD")
    assert main(["calls", str(lab_site_copy), "--from", "2026-11-01", "--to", "2026-11-30"]) == 2
    assert "controller.postgresql.password: required" in capsys.readouterr().err
    assert main(["validate", str(lab_site_copy)]) == 2
    assert "controller.postgresql.password: required (the ledger is in PostgreSQL)" in capsys.readouterr().err


def test_a_password_in_the_url_is_refused(lab_site_copy: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BIZPBX_CONTROLLER__POSTGRESQL__DSN", "postgresql://bizpbx:hunter2hunter2@db.example.org/bizpbx")
    assert main(["validate", str(lab_site_copy)]) == 2
    err = capsys.readouterr().err
    assert "controller.postgresql.dsn: the password does not go in the URL" in err and "hunter2hunter2" not in err
