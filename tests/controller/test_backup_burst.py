"""`bizpbx backup` while the controller rates a burst of calls, then `bizpbx
restore` of a copy taken mid-burst: after the controller starts again on the
restored ledger, every call is there exactly once, with one call.ended."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from burst import call, cdr_line, cdr_master, event_of, start_controller
from local_net import until
from switch_peer import CapturedEventSocket

from bizpbx.controller.outbox import Outbox
from bizpbx.ledger import Ledger
from bizpbx.ledger.backup import verify

CALLS = 90
BACKUP_AT = (20, 45, 70)


def uuids_in(ledger_path) -> list[str]:
    with Ledger.read_only(ledger_path) as ledger:
        return [c.uuid for org in ("12", "34") for c in ledger.calls(org, 0, 2**31)]


def cli(*args: str):
    return asyncio.create_subprocess_exec(
        sys.executable, "-m", "bizpbx.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=os.environ.copy()
    )


def test_a_backup_taken_during_a_burst_restores_to_a_ledger_with_every_call_once(site, lab_secrets, lab_site_copy, tmp_path):
    backups = tmp_path / "backups"

    async def scenario():
        async with CapturedEventSocket(lab_secrets["BIZPBX_ESL__PASSWORD"]) as event_socket:
            lab = site(esl_port=event_socket.port)
            master = cdr_master(lab)
            log = (tmp_path / "controller.log").open("ab")

            async def start():
                return await start_controller(lab_site_copy, event_socket, log)

            async def stop(process):
                process.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(process.wait(), 60) == 0

            controller = await start()
            running = []
            for i in range(CALLS):
                c = call(i)
                if i in BACKUP_AT:
                    # One second apart at least: copies are named to the second.
                    await asyncio.sleep(1.1)
                    running.append(await cli("backup", str(lab_site_copy), "--to", str(backups), "--keep", "5"))
                with master.open("a") as cdr:
                    cdr.write(cdr_line(c))
                if i % 3:
                    event_socket.send(event_of(c))  # every third call only through its CDR
                await asyncio.sleep(0.02)
            outputs = [await backup.communicate() for backup in running]
            assert [backup.returncode for backup in running] == [0] * len(BACKUP_AT), outputs
            await until(lambda: len(uuids_in(lab.controller.ledger)) >= CALLS, "every call in the ledger")
            await stop(controller)

            copies = sorted(backups.glob("ledger-*Z.sqlite3"))
            assert len(copies) == len(BACKUP_AT) and not list(backups.glob(".*"))  # no partial copy left behind
            restored = await cli("restore", str(lab_site_copy), str(copies[0]))
            out, err = await restored.communicate()
            assert restored.returncode == 0, err
            in_copy = uuids_in(lab.controller.ledger)

            controller = await start()  # its CDR sweep reads what came after the copy
            await until(lambda: len(uuids_in(lab.controller.ledger)) >= CALLS, "every call in the ledger again")
            await asyncio.sleep(6)  # one more sweep, which must add nothing
            await stop(controller)
            return lab, copies, in_copy, outputs

    lab, copies, in_copy, outputs = asyncio.run(scenario())
    every_call = sorted(call(i)["uuid"] for i in range(CALLS))
    counts = [verify(copy) for copy in copies]
    assert 0 < counts[0] <= counts[1] <= counts[2] <= CALLS
    assert counts[0] < CALLS, "the first copy was taken during the burst"
    assert len(in_copy) == counts[0] and len(set(in_copy)) == len(in_copy)
    assert set(in_copy) < set(every_call)
    assert f"{copies[0]}: {counts[0]} call(s), integrity ok" in outputs[0][0].decode()
    uuids = uuids_in(lab.controller.ledger)
    assert sorted(uuids) == every_call  # every call, each once
    ended = [e.call_uuid for e in Outbox(lab.controller.ledger).after(0, limit=10 * CALLS) if e.name == "call.ended"]
    assert sorted(ended) == every_call, "one call.ended per call"
