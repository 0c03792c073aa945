"""`bizpbx cdr-rotate` on a real FreeSWITCH 1.10: the file names mod_cdr_csv
gives, and the controller's sweep reading a call from the rotated file."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from test_reload_live import PREFIX, Live, bizpbx, live, wait_for  # noqa: F401 (live is a fixture)

from bizpbx.esl.aio import InboundClient

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not PREFIX, reason="FREESWITCH_PREFIX is unset: point it at a FreeSWITCH 1.10 install prefix to run the live rotation test"),
]


def one_call(live: Live) -> None:
    """A loopback call into the public dialplan, hung up at once: one CDR line."""

    async def call() -> None:
        async with InboundClient("127.0.0.1", live.ports["esl"], live.old, reconnect=False) as client:
            answer = await client.api("originate {origination_caller_id_number=78432123456}loopback/78005553535/public &hangup()")
            assert answer, "originate answered nothing"

    asyncio.run(call())


def test_rotation_names_and_a_new_master_file(live: Live) -> None:  # noqa: F811
    cdr_dir = live.work / "log" / "cdr-csv"
    master = cdr_dir / "Master.csv"
    nothing_yet = bizpbx("cdr-rotate", str(live.site), password=live.old)
    assert nothing_yet.returncode == 0, nothing_yet.stderr
    assert "no file rotated" in nothing_yet.stdout  # mod_cdr_csv rotates only a file it wrote since it loaded

    one_call(live)
    wait_for(lambda: master.exists() and master.stat().st_size > 0, "a CDR line", 30, live.log)
    written = master.read_bytes()
    rotated = bizpbx("cdr-rotate", str(live.site), password=live.old)
    assert rotated.returncode == 0, rotated.stderr
    (line,) = rotated.stdout.splitlines()
    name = line.removesuffix(": rotated").rsplit("/", 1)[1]
    assert re.fullmatch(r"Master\.csv\.\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}", name), name
    assert (cdr_dir / name).read_bytes() == written
    assert time.strftime("%Y-%m-%d", time.localtime()) in name  # the switch's local time

    time.sleep(1.1)  # a second rotation within the same second would rename over the first file
    one_call(live)
    wait_for(lambda: master.exists() and master.stat().st_size > 0, "a CDR line in the new file", 30, live.log)
    assert bizpbx("cdr-rotate", str(live.site), password=live.old).returncode == 0
    assert len(list(cdr_dir.glob("Master.csv.*"))) == 2


def test_a_refused_password_is_said_and_fails(live: Live) -> None:  # noqa: F811
    refused = bizpbx("cdr-rotate", str(live.site), password=live.new)
    assert refused.returncode == 1
    assert "refused the password" in refused.stderr and live.new not in refused.stderr
