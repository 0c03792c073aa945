"""The controller's CDR sweep (issue 10): one call UUID in two CDR files with
other data is logged naming both FILE:LINEs; the first stored is kept."""

from __future__ import annotations

import logging

from burst import call, cdr_line, event_of
from test_accounting import accounting_for


def test_one_uuid_with_other_data_in_two_cdr_files_is_logged(site, tmp_path, caplog):
    accounting, ledger, _, _ = accounting_for(site())
    rotated, current = tmp_path / "Master.csv.1", tmp_path / "Master.csv"
    rotated.write_text(cdr_line(call(1)) + cdr_line(call(3)))
    accounting.catch_up(tmp_path)
    changed = {**call(1), "billsec": "99"}
    current.write_text(cdr_line(call(2)) + cdr_line(changed) + cdr_line(call(3)))
    with caplog.at_level(logging.WARNING):
        assert accounting.catch_up(tmp_path) == 1
    warnings = [r.getMessage() for r in caplog.records if "already stored" in r.getMessage()]
    assert warnings == [f"{current}:2: call {call(1)['uuid']} is already stored from {rotated}:1 with other data (billsec 6 there, 99 here); that one is kept"]
    assert ledger.count() == 3


def test_a_hang_up_event_and_the_cdr_of_the_same_call_are_no_conflict(site, tmp_path, caplog):
    accounting, _, _, _ = accounting_for(site())
    accounting.on_event(event_of(call(1)))
    (tmp_path / "Master.csv").write_text(cdr_line({**call(1), "billsec": "7"}))
    with caplog.at_level(logging.WARNING):
        accounting.catch_up(tmp_path)
    assert not [r for r in caplog.records if "already stored" in r.getMessage()]
