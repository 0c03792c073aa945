"""Load on this machine: a real FreeSWITCH on loopback (as the live tests start it), SIPp calls at a
given rate to the 8-800 number answered by three SIPp phones registered as its support group, routed
by the controller and then by the static fallback dialplan (controller stopped, each call sent
straight into its fallback twin: `static_mode`; its CDRs rated when the controller starts again).
No lab, no root.

Printed per mode: calls placed, succeeded and failed (SIPp's counts), the rate reached, calls in the
ledger (each once), calls the controller learnt of only through the CDR sweep, the controller's CPU
time per call (user + system, from /proc), and the consumer's lag between a call's hang-up and its
rating (the controller's bizpbx_event_lag_seconds). `--profile FILE` runs the controller under
cProfile and prints its top entries by own time.

    FREESWITCH_PREFIX=/opt/freeswitch python bench/local_load.py --rate 40 --seconds 30 [--talk 2]
        [--mode both|controller|static] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the SIPp scenarios and the local switch the live tests use

from local_net import answers, free_port  # noqa: E402
from local_switch import freeswitch_command, put_on_loopback  # noqa: E402
from sipp_scenarios import CALLER_SCENARIO, REGISTRATION_SCENARIO, SDP, answering_phone  # noqa: E402
from static_mode import straight_to_fallback  # noqa: E402

from bizpbx.commands.status import read_metrics  # noqa: E402
from bizpbx.esl.aio import InboundClient  # noqa: E402
from bizpbx.site_loader import load_site  # noqa: E402

HOTLINE = "78005553535"
PHONES = ("200", "201", "202")  # organization 34's support group, which the hotline rings
COUNTS = re.compile(r"^\s*(Successful call|Failed call|Total Calls created)\s*\|\s*\d*\s*\|\s*(\d+)", re.MULTILINE)
TICKS = os.sysconf("SC_CLK_TCK")
# The controller under cProfile counting CPU time, not wall time: on a loaded machine wall time
# charges whatever runs while the process waits for a core to the function it was in.
PROFILED = """
import cProfile, sys, time
from bizpbx.cli import main
profile = cProfile.Profile(time.process_time)
try:
    profile.runcall(main, ["controller", sys.argv[2]])
finally:
    profile.dump_stats(sys.argv[1])
"""
LAB_SITE = REPO / "inventory" / "lab" / "site.yml"
# The controller's real-time priority as roles/bizpbx's unit starts it (FreeSWITCH's threads run
# SCHED_FIFO); only root may give it, anyone else measures the normal scheduler (said at the start).
CONTROLLER_PRIORITY = yaml.safe_load((REPO / "roles/bizpbx/defaults/main.yml").read_text(encoding="utf-8"))["bizpbx__controller_realtime_priority"]
SECRETS = {"BIZPBX_ESL__PASSWORD": "local-load-esl-secret"}


def wait_for(condition, what: str, bound: float = 60) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"local_load: gave up waiting for {what}")
        time.sleep(0.25)


def settled(count, expected: int, quiet_seconds: float = 20) -> tuple:
    """`count()` once its first figure reaches `expected`, or has not grown for `quiet_seconds`."""
    last, since = count(), time.monotonic()
    while last[0] < expected and time.monotonic() - since < quiet_seconds:
        time.sleep(1)
        now = count()
        if now[0] != last[0]:
            last, since = now, time.monotonic()
    return last


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class LocalSwitch:
    def __init__(self, work: Path, prefix: Path, rate: float) -> None:
        self.work = work
        for name in ("site.yml", "rates.csv"):
            (work / name).write_bytes((LAB_SITE.parent / name).read_bytes())
        data = yaml.safe_load((work / "site.yml").read_text(encoding="utf-8"))
        self.external, self.internal = put_on_loopback(data, work, prefix)
        # Room for every call in flight (media ports included); the switch's own pace is what is measured.
        data["freeswitch"].update(max_calls=2000, calls_per_second=max(int(rate * 3), data["freeswitch"]["calls_per_second"]), rtp_start_port=24000, rtp_end_port=34000)
        self.site_file = work / "site.yml"
        self.site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        os.environ.update(SECRETS)
        os.environ.pop("BIZPBX_TRUNKS__CARRIER__PASSWORD", None)
        self.site = load_site(self.site_file, generate_missing_secrets=True)
        command = freeswitch_command(self.site, work, prefix)
        self.switch = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=work)
        self.processes: list[subprocess.Popen] = []
        self.controller: subprocess.Popen | None = None

    def metrics(self) -> dict:
        return read_metrics(f"http://127.0.0.1:{self.site.controller.metrics.port}/metrics") or {}

    def start_controller(self, profile: Path | None) -> None:
        command = [sys.executable, "-c", PROFILED, str(profile), str(self.site_file)] if profile else [sys.executable, "-m", "bizpbx.cli", "controller", str(self.site_file)]
        if controller_realtime():
            command = ["chrt", "--rr", str(CONTROLLER_PRIORITY), *command]
        self.controller = subprocess.Popen(command, stdout=(self.work / "controller.log").open("ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: self.metrics().get("bizpbx_esl_connected") == 1, "the controller on the event socket")

    def stop_controller(self) -> None:
        if self.controller is not None:
            self.controller.send_signal(signal.SIGTERM)
            self.controller.wait(120)
            self.controller = None

    def static_dialplan(self, on: bool) -> None:
        """The public dialplan sent straight into the fallback twin (`static_mode`), or as rendered."""
        public = self.work / "conf" / "dialplan" / "public.xml"
        rendered = self.work / "public.rendered.xml"
        if on:
            public.replace(rendered)
            public.write_text(straight_to_fallback(rendered.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            rendered.replace(public)
        asyncio.run(self.api("reloadxml"))

    async def api(self, command: str) -> str:
        esl = self.site.esl
        async with InboundClient(str(esl.host), esl.port, esl.password.get_secret_value()) as client:
            return await client.api(command)

    def sipp(self, name: str, scenario: str, *arguments: str) -> list[str]:
        (self.work / f"{name}.xml").write_text(scenario)
        return ["sipp", *arguments, "-sf", str(self.work / f"{name}.xml"), "-i", "127.0.0.1", "-nostdin", "-max_socket", "5000", "-trace_err", "-error_file", str(self.work / f"{name}.err")]

    def start_phones(self) -> None:
        for extension in PHONES:
            port = free_port(socket.SOCK_DGRAM)
            self.processes.append(subprocess.Popen(self.sipp(f"phone-{extension}", answering_phone(), "-p", str(port)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            password = self.site.organizations["34"].employees[extension].password.get_secret_value()
            scenario = REGISTRATION_SCENARIO.format(domain="127.0.0.1", user=f"34-{extension}", password=password, contact_port=port, expires=3600)
            command = self.sipp("register", scenario, f"127.0.0.1:{self.internal}", "-m", "1", "-p", str(free_port(socket.SOCK_DGRAM)), "-timeout", "20s", "-timeout_error")
            subprocess.run(command, check=True, capture_output=True)

    def ledger(self, caller: str) -> tuple[int, int, int]:
        with sqlite3.connect(f"file:{self.site.controller.ledger}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*), count(DISTINCT uuid), coalesce(sum(source NOT LIKE 'esl'), 0) FROM calls WHERE caller = ?", (caller,)).fetchone()

    def close(self) -> None:
        self.stop_controller()
        for process in [*self.processes, self.switch]:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def controller_realtime() -> bool:
    return bool(CONTROLLER_PRIORITY) and os.geteuid() == 0


def run(switch: LocalSwitch, mode: str, rate: float, seconds: int, talk: int, profile: Path | None) -> dict:
    caller = f"7843{int(time.time() * 10) % 10_000_000:07d}"  # Kazan; unique to this run
    calls = int(rate * seconds)
    if mode == "controller":
        switch.start_controller(profile)
        cpu_before, metrics_before = cpu_seconds(switch.controller.pid), switch.metrics()
    else:
        switch.static_dialplan(True)
    scenario = CALLER_SCENARIO.format(keys="", sdp=SDP, called=HOTLINE, caller=caller, talk_ms=talk * 1000)
    command = switch.sipp(f"load-{mode}", scenario, f"127.0.0.1:{switch.external}", "-p", str(free_port(socket.SOCK_DGRAM)), "-r", str(rate), "-m", str(calls), "-timeout", f"{seconds * 4 + 60}s")
    started = time.monotonic()
    out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    elapsed = time.monotonic() - started
    counts = {name: int(value) for name, value in COUNTS.findall(out)}
    placed = counts.get("Total Calls created", 0)
    if mode == "static":
        switch.static_dialplan(False)
        switch.start_controller(None)  # its first sweep reads the static calls' CDRs
    rated = settled(lambda: switch.ledger(caller), placed)
    result = {
        "mode": mode,
        "offered": f"{rate:g} calls/s x {calls}",
        "placed": placed,
        "succeeded": counts.get("Successful call", 0),
        "failed": counts.get("Failed call", 0),
        "calls/s reached": round(placed / elapsed, 1) if elapsed else 0,
        "in the ledger": rated[0],
        "distinct": rated[1],
        "only through the CDR sweep": rated[2],
    }
    if mode == "controller":
        metrics = switch.metrics()
        result["controller CPU per call"] = f"{(cpu_seconds(switch.controller.pid) - cpu_before) / max(placed, 1) * 1000:.2f} ms"
        lag_count = metrics.get("bizpbx_event_lag_seconds_count", 0) - metrics_before.get("bizpbx_event_lag_seconds_count", 0)
        lag_sum = metrics.get("bizpbx_event_lag_seconds_sum", 0) - metrics_before.get("bizpbx_event_lag_seconds_sum", 0)
        result["mean hang-up to rating lag"] = f"{lag_sum / lag_count * 1000:.1f} ms" if lag_count else "n/a"
    switch.stop_controller()
    return result


def print_profile(path: Path, top: int = 25) -> None:
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=30)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--talk", type=int, default=2, help="seconds each call talks")
    parser.add_argument("--mode", choices=("both", "controller", "static"), default="both")
    parser.add_argument("--keep", type=Path, help="copy the run's directory (logs, ledger, SIPp errors) here")
    parser.add_argument("--profile", type=Path, help="run the controller under cProfile, its stats written here")
    args = parser.parse_args()
    prefix = os.environ.get("FREESWITCH_PREFIX")
    if not prefix or shutil.which("sipp") is None:
        print("local_load: needs FREESWITCH_PREFIX (a FreeSWITCH 1.10 install prefix) and sipp on PATH", file=sys.stderr)
        return 2
    scheduler = f"real-time (SCHED_RR {CONTROLLER_PRIORITY}), as its unit runs it" if controller_realtime() else "normal (real-time priority is root's), unlike its unit"
    print(f"the controller's scheduler: {scheduler}")
    with tempfile.TemporaryDirectory(prefix="bizpbx-load-") as directory:
        switch = LocalSwitch(Path(directory), Path(prefix), args.rate)
        try:
            wait_for(lambda: switch.switch.poll() is None and answers(switch.site.esl.port), "FreeSWITCH's event socket")
            switch.start_phones()
            modes = ("controller", "static") if args.mode == "both" else (args.mode,)
            results = [run(switch, mode, args.rate, args.seconds, args.talk, args.profile) for mode in modes]
        finally:
            switch.close()
            if args.keep:
                shutil.copytree(directory, args.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("sounds", "conf"))
    if args.profile and "controller" in modes:
        print_profile(args.profile)
    for result in results:
        print("  ".join(f"{key}: {value}" for key, value in result.items()))
    if len(results) == 2 and results[1]["calls/s reached"]:
        print(f"controller-routed rate: {100 * results[0]['calls/s reached'] / results[1]['calls/s reached']:.0f} % of the static dialplan's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
