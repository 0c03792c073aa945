"""Calls of a burst, as CDR lines and as the switch's hangup events."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from pathlib import Path

from switch_peer import hangup_complete

from bizpbx.cdr import CDR_COLUMNS


def call(i: int) -> dict[str, str]:
    """Call i of the burst: outbound calls of organization 12 and 8-800 calls of 34."""
    uuid = f"00000000-0000-4000-8000-{i:012d}"
    billsec = str(5 + i)
    if i % 2:
        return dict(uuid=uuid, organization="12", direction="outbound", called_number="+79161234567", number_kind="", caller="12-101",
                    callee="89161234567", billsec=billsec, trunk="carrier", answered_by="number:+79161234567")
    return dict(uuid=uuid, organization="34", direction="inbound", called_number="+78005553535", number_kind="hotline", caller="78432123456",
                callee="78005553535", billsec=billsec, trunk="carrier", answered_by="extension:200")


def cdr_line(c: dict[str, str]) -> str:
    values = {
        **c,
        "start_epoch": "1795636467",
        "answer_epoch": "1795636467",
        "bridge_epoch": "1795636469",  # a person answered two seconds after the switch did
        "end_epoch": "1795636500",
        "duration": c["billsec"],
        "hangup_cause": "NORMAL_CLEARING",
        "voicemail": "",
        "recording": "",  # not recorded
    }
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow([values[column] for column, _ in CDR_COLUMNS])
    return out.getvalue()


def event_of(c: dict[str, str]):
    variables = {f"variable_bizpbx_{v}": c[k] for k, v in (("organization", "org_id"), ("direction", "direction"), ("called_number", "called"), ("number_kind", "number_kind"), ("trunk", "trunk"), ("answered_by", "answered_by"))}
    return hangup_complete(c["caller"], c["callee"], variables, call_uuid=c["uuid"], billsec=int(c["billsec"]))


def cdr_master(site) -> Path:
    """The switch's Master.csv for `site`, in a CDR directory made for the burst."""
    cdr_dir = site.freeswitch.log_dir / "cdr-csv"
    cdr_dir.mkdir(parents=True)
    return cdr_dir / "Master.csv"


async def start_controller(site_file: Path, event_socket, log) -> asyncio.subprocess.Process:
    """`bizpbx controller SITE` as a process of its own, once it has subscribed to the event socket."""
    event_socket.subscribed.clear()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bizpbx.cli", "controller", str(site_file), stdout=log, stderr=log, env=os.environ.copy()
    )
    await asyncio.wait_for(event_socket.subscribed.wait(), 60)
    return process
