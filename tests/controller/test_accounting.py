"""Runtime rating: events and CDR lines of the same calls, read again and again, counted once."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time

from burst import call, cdr_line, event_of
from switch_peer import replaced

from bizpbx.controller.accounting import Accounting
from bizpbx.controller.metrics import Metrics
from bizpbx.controller.outbox import Outbox
from bizpbx.ledger import Ledger
from bizpbx.rating import Rater


def accounting_for(site):
    ledger, outbox, metrics = Ledger(site.controller.ledger), Outbox(site.controller.ledger), Metrics()
    return Accounting(Rater(site), ledger, outbox, metrics, site), ledger, outbox, metrics


def test_a_call_seen_as_an_event_and_as_a_cdr_line_is_stored_once(site, tmp_path):
    lab = site()
    accounting, ledger, outbox, metrics = accounting_for(lab)
    cdr_dir = tmp_path / "cdr"
    cdr_dir.mkdir()
    accounting.on_event(event_of(call(1)))
    (cdr_dir / "Master.csv").write_text(cdr_line(call(1)) + cdr_line(call(2)))
    assert accounting.catch_up(cdr_dir) == 1  # only call 2 is new
    assert accounting.catch_up(cdr_dir) == 0
    assert ledger.count() == 2
    names = [(e.call_uuid, e.name) for e in outbox.after(0)]
    assert sorted(names) == sorted((call(i)["uuid"], name) for i in (1, 2) for name in ("call.started", "call.answered", "call.ended"))
    # Counted once each too, however often seen (the event, then the CDR file twice).
    sample = metrics.registry.get_sample_value
    assert sample("bizpbx_calls_rated_total", {"organization": "12", "direction": "outbound", "outcome": "billed"}) == 1
    assert sample("bizpbx_calls_rated_total", {"organization": "34", "direction": "inbound", "outcome": "billed"}) == 1
    assert sample("bizpbx_hangups_total", {"direction": "outbound", "trunk": "carrier", "cause": "NORMAL_CLEARING"}) == 1
    assert sample("bizpbx_hangups_total", {"direction": "inbound", "trunk": "carrier", "cause": "NORMAL_CLEARING"}) == 1


def test_a_call_known_only_from_its_cdr_gets_its_start_and_answer_recovered_before_its_end(site, tmp_path):
    accounting, _, outbox, _ = accounting_for(site())
    (tmp_path / "Master.csv").write_text(cdr_line(call(2)))
    accounting.catch_up(tmp_path)
    events = [json.loads(e.body) for e in outbox.after(0)]
    assert [e["event"] for e in events] == ["call.started", "call.answered", "call.ended"]
    started = events[0]
    assert all(event["recovered"] is True for event in events), "all made from the CDR, none seen live"
    answered, ended = events[1], events[2]
    assert answered["at"] == "2026-11-25T19:54:29.000+00:00"  # the bridge, not the switch's answer
    assert answered["answered_by"] == ended["answered_by"] == {"target": "extension:200", "kind": "extension", "extension": "200", "name": "Анна Кузнецова"}
    assert (ended["wait_seconds"], ended["talk_seconds"], ended["duration"]) == (2, 31, 7)
    assert (started["organization"], started["direction"], started["number"], started["number_kind"]) == ("34", "inbound", "+78005553535", "hotline")
    assert started["at"] == "2026-11-25T19:54:27.000+00:00" and started["at"] <= events[1]["at"]


def test_an_unreadable_cdr_directory_is_reported_and_read_once_readable(site, tmp_path, caplog):
    accounting, ledger, _, metrics = accounting_for(site())
    cdr_dir = tmp_path / "cdr-csv"
    assert accounting.catch_up(cdr_dir) == 0
    assert "does not exist" in accounting.cdr_problem and metrics.registry.get_sample_value("bizpbx_cdr_readable", {"problem": accounting.cdr_problem}) == 0
    cdr_dir.mkdir()
    (cdr_dir / "Master.csv").write_text(cdr_line(call(2)))
    cdr_dir.chmod(0)
    try:
        with another_user():
            assert accounting.catch_up(cdr_dir) == 0
    finally:
        cdr_dir.chmod(0o750)
    assert "Permission denied" in accounting.cdr_problem and str(cdr_dir) in accounting.cdr_problem
    assert any("CDR files cannot be read" in r.getMessage() for r in caplog.records)
    assert metrics.registry.get_sample_value("bizpbx_cdr_readable", {"problem": accounting.cdr_problem}) == 0
    assert accounting.catch_up(cdr_dir) == 1
    assert accounting.cdr_problem is None and ledger.count() == 1
    [readable] = [s for family in metrics.registry.collect() for s in family.samples if s.name == "bizpbx_cdr_readable"]  # the problem gone
    assert (readable.labels, readable.value) == ({"problem": ""}, 1)


@contextlib.contextmanager
def another_user():
    """As root, the directory's mode binds only once the effective user is another."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_a_cdr_of_a_call_refused_before_the_dialplan_is_not_a_rating_error(site, tmp_path):
    accounting, ledger, _, metrics = accounting_for(site())
    refused = {**call(2), "organization": "", "direction": "", "called_number": "", "number_kind": "", "trunk": "", "billsec": "0"}
    (tmp_path / "Master.csv").write_text(cdr_line(refused).replace('"1795636467"', '"0"', 1).replace('"1795636467"', '"0"', 1))
    assert accounting.catch_up(tmp_path) == 0
    sample = metrics.registry.get_sample_value
    assert (sample("bizpbx_rating_errors_total"), sample("bizpbx_cdr_never_routed_total"), ledger.count()) == (0, 1, 0)


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
    assert metrics.registry.get_sample_value("bizpbx_rating_errors_total") == 1
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


def _at(seconds_ago: float) -> dict[str, str]:
    """The switch's time of an event (Event-Date-Timestamp, microseconds)."""
    return {"Event-Date-Timestamp": str(int((time.time() - seconds_ago) * 1e6))}


def test_hang_ups_held_together_are_stored_by_one_flush_with_their_lag_measured(site, caplog):
    accounting, ledger, outbox, metrics = accounting_for(site())
    for i in (1, 2):
        accounting.hold(replaced(event_of(call(i)), _at(0)))
    assert ledger.count() == 0 and outbox.last_id() == 0, "held until the flush"
    assert accounting.flush() == 2 and ledger.count() == 2
    assert accounting.flush() == 0
    sample = metrics.registry.get_sample_value
    assert sample("bizpbx_event_lag_seconds_count") == 2 and sample("bizpbx_event_lag_seconds_bucket", {"le": "2.0"}) == 2
    assert sample("bizpbx_event_consumer_behind") == 0 and not [r for r in caplog.records if "falls behind" in r.getMessage()]


def test_a_consumer_falling_behind_says_so_once_and_again_when_it_keeps_up(site, caplog):
    caplog.set_level(logging.INFO, logger="bizpbx.controller.accounting")
    accounting, _, _, metrics = accounting_for(site())
    for i in (1, 2, 3):
        accounting.on_event(replaced(event_of(call(i)), _at(30)))
    sample = metrics.registry.get_sample_value
    assert sample("bizpbx_event_consumer_behind") == 1
    warnings = [r for r in caplog.records if "falls behind" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    accounting.on_event(replaced(event_of(call(4)), _at(0)))
    assert sample("bizpbx_event_consumer_behind") == 0
    assert len([r for r in caplog.records if "keeps up again" in r.getMessage()]) == 1
    assert sample("bizpbx_event_lag_seconds_bucket", {"le": "10.0"}) == 1 and sample("bizpbx_event_lag_seconds_count") == 4


def test_calls_stored_from_the_cdr_sweep_are_counted_apart(site, tmp_path):
    accounting, ledger, _, metrics = accounting_for(site())
    accounting.on_event(event_of(call(1)))
    (tmp_path / "Master.csv").write_text("".join(cdr_line(call(i)) for i in (1, 2, 3)))
    assert accounting.catch_up(tmp_path) == 2 and ledger.count() == 3
    assert metrics.registry.get_sample_value("bizpbx_calls_recovered_from_cdr_total") == 2, "call 1 came by its event"


def test_with_a_grace_a_call_just_ended_waits_for_its_hang_up_event_and_the_lines_after_it_too(site, tmp_path):
    lab = site()
    accounting, ledger, outbox, metrics = accounting_for(lab)
    just_ended = cdr_line(call(2)).replace('"1795636500"', f'"{int(time.time())}"')
    (tmp_path / "Master.csv").write_text(cdr_line(call(1)) + just_ended + cdr_line(call(3)))
    assert accounting.catch_up(tmp_path, grace_seconds=10) == 1  # call 1; call 2 ended now, call 3 is after it
    accounting.on_event(event_of(call(2)))  # its hang-up event arrives within the grace
    assert accounting.catch_up(tmp_path, grace_seconds=3600) == 0  # call 2 is still within this grace
    assert accounting.catch_up(tmp_path) == 1  # without one, the rest: call 3 (call 2 is stored)
    with contextlib.closing(sqlite3.connect(lab.controller.ledger)) as db:
        sources = dict(db.execute("SELECT uuid, source FROM calls"))
    assert sources[call(2)["uuid"]] == "esl" and all(sources[call(i)["uuid"]].endswith(f"Master.csv:{i}") for i in (1, 3))
    assert metrics.registry.get_sample_value("bizpbx_calls_recovered_from_cdr_total") == 2
    assert sum(1 for e in outbox.after(0) if e.name == "call.ended") == 3


def test_every_call_found_over_is_told_by_its_event_or_its_cdr_line_b_legs_not(site, tmp_path):
    """What ends an answered call's handling once the controller let go of its socket."""
    lab = site()
    told: list[str] = []
    accounting = Accounting(Rater(lab), Ledger(lab.controller.ledger), Outbox(lab.controller.ledger), Metrics(), lab, hung_up=told.append)
    accounting.hold(event_of(call(1)))  # told before it is stored: the handler ends with the event
    assert told == [call(1)["uuid"]]
    accounting.on_event(replaced(event_of(call(2)), {"Call-Direction": "outbound"}))
    unrateable = replaced(event_of(call(3)), {"variable_billsec": "many"})
    accounting.on_event(unrateable)  # a hang-up that cannot be rated still ends its call
    (tmp_path / "Master.csv").write_text(cdr_line(call(4)) + '"only","three","columns"\n')
    accounting.catch_up(tmp_path)
    assert told == [call(1)["uuid"], call(3)["uuid"], call(4)["uuid"]]
