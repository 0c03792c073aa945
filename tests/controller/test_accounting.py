"""Runtime rating: events and CDR lines of the same calls, read again and again, counted once."""

from __future__ import annotations

from burst import call, cdr_line, event_of
from switch_peer import replaced

from bizpbx.controller.accounting import Accounting
from bizpbx.controller.metrics import Metrics
from bizpbx.controller.outbox import Outbox
from bizpbx.ledger import Ledger
from bizpbx.rating import Rater


def accounting_for(site):
    ledger, outbox, metrics = Ledger(site.controller.ledger), Outbox(site.controller.ledger), Metrics()
    return Accounting(Rater(site), ledger, outbox, metrics), ledger, outbox, metrics


def test_a_call_seen_as_an_event_and_as_a_cdr_line_is_stored_once(site, tmp_path):
    lab = site()
    accounting, ledger, outbox, _ = accounting_for(lab)
    cdr_dir = tmp_path / "cdr"
    cdr_dir.mkdir()
    accounting.on_event(event_of(call(1)))
    (cdr_dir / "Master.csv").write_text(cdr_line(call(1)) + cdr_line(call(2)))
    assert accounting.catch_up(cdr_dir) == 1  # only call 2 is new
    assert accounting.catch_up(cdr_dir) == 0
    assert ledger.count() == 2
    assert [e.name for e in outbox.after(0)] == ["call.ended", "call.ended"]


def test_a_line_being_written_waits_and_a_truncated_file_is_read_anew(site, tmp_path):
    lab = site()
    accounting, ledger, _, _ = accounting_for(lab)
    master = tmp_path / "Master.csv"
    line = cdr_line(call(3))
    master.write_text(cdr_line(call(2)) + line[:10])
    assert accounting.catch_up(tmp_path) == 1
    with master.open("a") as handle:
        handle.write(line[10:])
    assert accounting.catch_up(tmp_path) == 1
    master.write_text(cdr_line(call(4)))  # truncated and written again (same inode, shorter)
    assert accounting.catch_up(tmp_path) == 1
    assert ledger.count() == 3


def test_a_bad_cdr_line_is_reported_and_the_others_are_read(site, tmp_path, caplog):
    lab = site()
    accounting, ledger, _, metrics = accounting_for(lab)
    (tmp_path / "Master.csv").write_text('"only","three","columns"\n' + cdr_line(call(5)))
    assert accounting.catch_up(tmp_path) == 1
    assert metrics.rating_errors.value == 1
    assert any("Master.csv:1: CDR not rated" in record.getMessage() for record in caplog.records)


def test_events_of_b_legs_are_not_calls(site):
    lab = site()
    accounting, ledger, outbox, _ = accounting_for(lab)
    b_leg = replaced(event_of(call(6)), {"Call-Direction": "outbound"})
    accounting.on_event(b_leg)
    assert ledger.count() == 0 and outbox.after(0) == []


def test_a_large_file_is_read_in_batches_and_line_numbers_survive_a_restart(site, tmp_path, monkeypatch):
    monkeypatch.setattr("bizpbx.controller.accounting.CDR_CHUNK_BYTES", 2 * len(cdr_line(call(10))) + 5)
    lab = site()
    master = tmp_path / "Master.csv"
    master.write_text("".join(cdr_line(call(i)) for i in range(10, 15)))
    accounting, ledger, _, _ = accounting_for(lab)
    assert accounting.catch_up(tmp_path) == 5
    with master.open("a") as handle:
        handle.write(cdr_line(call(15)))
    restarted, _, _, _ = accounting_for(lab)  # a new process: the line count comes from the file
    assert restarted.catch_up(tmp_path) == 1
    sources = {c.uuid: c.source for org in ("12", "34") for c in ledger.calls(org, 0, 2**31)}
    assert sources == {call(i)["uuid"]: f"{master}:{i - 9}" for i in range(10, 16)}
