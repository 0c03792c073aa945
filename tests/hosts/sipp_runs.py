"""SIPp on the lab hosts, for the acceptance suites of both labs: scenarios put on a host, run
there, their outcome read back; and caller numbers no other call of the session has."""

from __future__ import annotations

import itertools
import shlex
import time
from collections.abc import Iterator

from sipp_scenarios import answering_phone

WORK = "/tmp/bizpbx-acceptance"
_callers = itertools.count(1)


def next_caller(prefix: str) -> str:
    """A caller number no other call of the session has (prefix + a 4-digit sequence)."""
    return f"{prefix}{int(time.time()) % 1000:03d}{next(_callers):04d}"[: len(prefix) + 7]


def put(host, path: str, text: str) -> None:
    host.run(f"mkdir -p {WORK}")
    result = host.run(f"cat > {shlex.quote(path)} <<'SCENARIO_END'\n{text}\nSCENARIO_END")
    assert result.rc == 0, result.stderr


def sipp(host, name: str, target: str, *args: str, calls: int = 1, timeout: int = 60) -> str:
    """SIPp runs scenario `name` `calls` times from `host`; returns its output (failures carry it)."""
    command = (
        f"cd {WORK} && sipp {target} -sf {name}.xml -m {calls} -timeout {timeout}s -timeout_error -nostdin "
        f"-trace_err -error_file {name}.err {' '.join(args)} > {name}.out 2>&1; echo sipp-exit=$?; tail -c 3000 {name}.err {name}.out"
    )
    out = host.run(command).stdout  # echo: SIPp's exit 255 would look like an SSH failure to testinfra
    return out


def assert_sipp_ok(out: str) -> None:
    assert "sipp-exit=0" in out, out


def pstn_callee(carrier, address: str, port: int) -> Iterator[None]:
    """The outside world while the generator is suspended: a SIPp callee on the carrier host
    (kamailio__pstn_callee) answering the calls its Kamailio relays."""
    put(carrier, f"{WORK}/pstn.xml", answering_phone())
    carrier.run(f"cd {WORK} && (sipp -sf pstn.xml -i {address} -p {port} -nostdin -trace_err -error_file pstn.err > pstn.out 2>&1 & echo $! > pstn.pid)")
    yield
    carrier.run(f"kill $(cat {WORK}/pstn.pid) 2>/dev/null; true")
