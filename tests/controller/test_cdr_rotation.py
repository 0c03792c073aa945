"""The CDR sweep across mod_cdr_csv's rotations: `cdr_csv rotate` (or a HUP)
renames Master.csv to Master.csv.YYYY-MM-DD-HH-MM-SS (the switch's local
time) and opens a new Master.csv. A call whose line went into the rotated
file is rated once; nothing is read twice after a rotation or a restart."""

from __future__ import annotations

from burst import call, cdr_line
from test_accounting import accounting_for

ROTATED = "Master.csv.2026-11-03-21-05-09"  # the name mod_cdr_csv 1.10 gives (see module docstring)


def ended(outbox) -> list[str]:
    return [e.call_uuid for e in outbox.after(0, limit=10_000) if e.name == "call.ended"]


def append(path, *calls: int) -> None:
    with path.open("a") as cdr:
        cdr.write("".join(cdr_line(call(i)) for i in calls))


def test_lines_written_before_a_rotation_and_not_yet_swept_are_read_from_the_rotated_file(site, tmp_path):
    lab = site()
    accounting, ledger, outbox, _ = accounting_for(lab)
    master = tmp_path / "Master.csv"
    append(master, 0, 1, 2)
    assert accounting.catch_up(tmp_path) == 3
    append(master, 3, 4)  # written, not yet swept
    master.rename(tmp_path / ROTATED)
    append(master, 5, 6)
    assert accounting.catch_up(tmp_path) == 4
    assert accounting.catch_up(tmp_path) == 0
    assert ledger.count() == 7
    sources = {c.uuid: c.source for org in ("12", "34") for c in ledger.calls(org, 0, 2**31)}
    assert sources[call(4)["uuid"]] == f"{tmp_path / ROTATED}:5" and sources[call(5)["uuid"]] == f"{master}:1"

    restarted, _, outbox_after, _ = accounting_for(lab)  # a new process: offsets from the ledger only
    assert restarted.catch_up(tmp_path) == 0
    assert sorted(ended(outbox_after)) == sorted(call(i)["uuid"] for i in range(7))  # each call.ended once


def test_two_rotations_between_sweeps(site, tmp_path):
    accounting, ledger, _, _ = accounting_for(site())
    master = tmp_path / "Master.csv"
    append(master, 0)
    assert accounting.catch_up(tmp_path) == 1
    append(master, 1)
    master.rename(tmp_path / "Master.csv.2026-11-03-00-00-00")
    append(master, 2)
    master.rename(tmp_path / "Master.csv.2026-11-04-00-00-00")
    append(master, 3)
    assert accounting.catch_up(tmp_path) == 3
    assert ledger.count() == 4


def test_a_file_written_anew_in_the_place_of_a_read_one_is_read_from_its_start(site, tmp_path):
    """A rotated file deleted and a new Master.csv given its inode (or the
    file rewritten in place, as here): the offset kept for the old content
    must not skip the new lines, even where the new file is longer."""
    accounting, ledger, _, _ = accounting_for(site())
    master = tmp_path / "Master.csv"
    append(master, 0, 1)
    assert accounting.catch_up(tmp_path) == 2
    with master.open("r+") as cdr:  # the same inode, other calls, longer than what was read
        cdr.truncate(0)
        cdr.write("".join(cdr_line(call(i)) for i in (10, 11, 12, 13)))
    assert accounting.catch_up(tmp_path) == 4
    assert ledger.count() == 6


def test_a_file_whose_first_line_is_still_being_written_waits(site, tmp_path):
    accounting, ledger, _, _ = accounting_for(site())
    master = tmp_path / "Master.csv"
    line = cdr_line(call(0))
    master.write_text(line[:20])
    assert accounting.catch_up(tmp_path) == 0
    with master.open("a") as cdr:
        cdr.write(line[20:])
    assert accounting.catch_up(tmp_path) == 1
    assert ledger.count() == 1
