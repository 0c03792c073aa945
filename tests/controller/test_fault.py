"""The controller killed (SIGKILL) during a burst of calls and started again:
every finished call is in the ledger once, from the event socket or from the
CDR files, with a CDR file rotated and a line half-written meanwhile."""

from __future__ import annotations

import asyncio
import signal

from burst import call, cdr_line, cdr_master, event_of, start_controller
from local_net import until
from switch_peer import CapturedEventSocket

from bizpbx.controller.outbox import Outbox
from bizpbx.ledger import Ledger
from bizpbx.settings import PostgresLedger

CALLS = 60
KILL_AT, ROTATE_AT, RESTART_AT = 20, 30, 40


def stored(where) -> list:
    if not isinstance(where, PostgresLedger) and not where.exists():
        return []
    with Ledger(where) as ledger:
        return [c for org in ("12", "34") for c in ledger.calls(org, 0, 2**31)]


def on_backend(ledger_location, monkeypatch):
    """The site change that puts the ledger where the test wants it: the SQLite file by default, or PostgreSQL."""
    if not isinstance(ledger_location, PostgresLedger):
        return None
    monkeypatch.setenv("BIZPBX_CONTROLLER__POSTGRESQL__PASSWORD", ledger_location.password.get_secret_value())
    return lambda data: data["controller"].update(postgresql={"dsn": ledger_location.dsn, "node": "node-a"})


def test_killed_during_a_burst_and_restarted_every_call_is_in_the_ledger_once(site, lab_secrets, lab_site_copy, tmp_path, ledger_location, monkeypatch):
    async def scenario():
        async with CapturedEventSocket(lab_secrets["BIZPBX_ESL__PASSWORD"]) as event_socket:
            lab = site(esl_port=event_socket.port, change=on_backend(ledger_location, monkeypatch))
            master = cdr_master(lab)
            log = (tmp_path / "controller.log").open("ab")

            async def start():
                return await start_controller(lab_site_copy, event_socket, log)

            process = await start()
            half = ""
            for i in range(CALLS):
                c = call(i)
                if i == KILL_AT:
                    line = cdr_line(c)
                    half = line[len(line) // 2 :]
                    with master.open("a") as cdr:
                        cdr.write(line[: len(line) // 2])  # the switch is writing this line when the controller dies
                    process.send_signal(signal.SIGKILL)
                    assert await process.wait() == -signal.SIGKILL
                    with master.open("a") as cdr:
                        cdr.write(half)
                    continue
                if i == ROTATE_AT:
                    master.rename(master.with_name("Master.csv.1"))  # mod_cdr_csv's rotation
                if i == RESTART_AT:
                    process = await start()
                with master.open("a") as cdr:
                    cdr.write(cdr_line(c))
                event_socket.send(event_of(c))  # reaches the controller only while it is connected
                await asyncio.sleep(0.01)
            await until(lambda: len(stored(lab.controller.ledger_database)) >= CALLS, "every call in the ledger")
            await asyncio.sleep(6)  # one more CDR sweep, which must add nothing
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 60)
            return lab, code

    lab, code = asyncio.run(scenario())
    assert code == 0
    calls = stored(lab.controller.ledger_database)
    uuids = [c.uuid for c in calls]
    assert sorted(uuids) == sorted(call(i)["uuid"] for i in range(CALLS))
    sources = {c.source for c in calls}
    assert "esl" in sources and any(s.endswith(".csv.1:21") for s in sources) and any(".csv:" in s for s in sources)
    ended = [e.call_uuid for e in Outbox(lab.controller.ledger_database).after(0, limit=10 * CALLS) if e.name == "call.ended"]
    assert sorted(ended) == sorted(uuids), "one call.ended per call"
