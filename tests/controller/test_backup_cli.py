"""`bizpbx backup` and `bizpbx restore` on the command line: what they print,
their exit status, and refusals that leave everything as it was."""

from __future__ import annotations

import socket
import sqlite3

import pytest

from bizpbx.cli import main
from bizpbx.controller.outbox import Outbox


def test_backup_prints_the_copy_the_pruning_and_the_dead_letters(site, lab_site_copy, tmp_path, capsys):
    lab = site()
    outbox = Outbox(lab.controller.ledger)
    outbox.add([(f"k{i}", f"u{i}", "call.ended", {}) for i in range(3)])
    outbox.set_aside("crm", 1, attempts=2, reason="HTTP 400", at=0)
    sqlite3.connect(lab.controller.ledger).execute("UPDATE call_events SET created_at = 0").connection.commit()
    assert main(["backup", str(lab_site_copy), "--to", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out.splitlines()
    copy = next((tmp_path / "b").glob("ledger-*Z.sqlite3"))
    assert out == [
        f"{copy}: 0 call(s), integrity ok",
        "outbox: 2 delivered event(s) older than 30 day(s) pruned",  # no webhook in this site: nobody waits for them
        f"outbox: 1 dead letter(s) kept: bizpbx events dead {lab_site_copy}",
    ]
    assert [e.id for e in outbox.after(0)] == [1]


def test_backup_without_a_ledger_fails_and_prunes_nothing(site, lab_site_copy, tmp_path, capsys):
    lab = site()
    assert main(["backup", str(lab_site_copy), "--to", str(tmp_path / "b")]) == 1
    assert capsys.readouterr().err == f"bizpbx backup: {lab.controller.ledger}: no ledger there (controller.ledger)\n"
    assert not lab.controller.ledger.exists()


@pytest.mark.parametrize("keep", ["0", "-1", "two"])
def test_a_bad_number_of_copies_is_named(lab_site_copy, keep, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["backup", str(lab_site_copy), "--keep", keep])
    assert exit.value.code == 2
    assert f"argument --keep: {keep!r} is not a whole number of copies, 1 or more" in capsys.readouterr().err


def test_restore_is_refused_while_the_controller_listens(site, lab_site_copy, tmp_path, capsys):
    lab = site()
    Outbox(lab.controller.ledger).close()
    assert main(["backup", str(lab_site_copy), "--to", str(tmp_path / "b")]) == 0
    copy = next((tmp_path / "b").glob("ledger-*Z.sqlite3"))
    with socket.socket() as controller:
        controller.bind((str(lab.controller.metrics.host), lab.controller.metrics.port))
        controller.listen()
        assert main(["restore", str(lab_site_copy), str(copy)]) == 1
    assert "the controller is running (something listens on 127.0.0.1:" in capsys.readouterr().err
    assert main(["restore", str(lab_site_copy), str(copy)]) == 0


def test_restore_of_something_else_names_it_and_changes_nothing(site, lab_site_copy, tmp_path, capsys):
    lab = site()
    outbox = Outbox(lab.controller.ledger)
    outbox.add([("k", "u", "call.ended", {})])
    bogus = tmp_path / "notes.sqlite3"
    bogus.write_text("these are not calls\n" * 300)
    assert main(["restore", str(lab_site_copy), str(bogus)]) == 1
    assert capsys.readouterr().err == f"bizpbx restore: {bogus}: not a ledger: file is not a database; the ledger is unchanged\n"
    assert [e.call_uuid for e in outbox.after(0)] == ["u"]
