"""Load on the lab: SIPp calls at a given rate and duration, routed by the controller and by the
static fallback dialplan (controller stopped, and each call sent at once into the fallback twin of
its context instead of parked for a controller that is not there), with figures printed.

Needs the converged lab with FreeSWITCH (`FREESWITCH_PREFIX=... make lab`), as root. The calls go to
the 8-800 number from Kazan and are answered by SIPp phones registered as its support group
(34-200, 34-201, 34-202), each call talking `--talk` seconds. Printed per mode: calls placed,
succeeded and failed (SIPp's counts), the rate reached, calls in the ledger (each once), calls
whose events reached the controller only through the CDR sweep (their ledger source is a CDR line),
calls the dialplan's fallback took before the controller (bizpbx_parked_calls_missed_total),
and the controller's CPU time per call (systemd's CPUUsageNSec of its unit). bench/local_load.py
runs the same load on this machine, without the lab.

    python bench/lab_load.py --rate 30 --seconds 30 [--talk 2] [--mode both|controller|static]
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the SIPp scenarios the acceptance suite uses

from hosts.acceptance import Pbx  # noqa: E402
from sipp_scenarios import CALLER_SCENARIO, REGISTRATION_SCENARIO, SDP, answering_phone  # noqa: E402
from static_mode import straight_to_fallback  # noqa: E402

import bizpbx_lab as lab  # noqa: E402

HOTLINE = "78005553535"
WORK = "/tmp/bizpbx-load"
PHONES = {"34-200": 5162, "34-201": 5164, "34-202": 5166}
# The carrier and the phones stand for other machines. On the lab's two cores they take turns with
# the switch's real-time threads (FIFO, priority 1) instead of starving behind them: starved, SIPp's
# watchdog ended the phones mid-run, and every later call failed.
GENERATOR = "chrt --rr 1 sipp"
WATCHDOG = "-watchdog_minor_maxtriggers 100000"  # a late turn of the loaded box is not a reason to quit
STUCK_SECONDS = 20  # a count of channels unchanged this long is of calls nobody will hang up
COUNTS = re.compile(r"^\s*(Successful call|Failed call|Total Calls created)\s*\|\s*\d*\s*\|\s*(\d+)", re.MULTILINE)


def ssh(name: str, command: str, check: bool = True) -> str:
    result = subprocess.run([*lab.ssh_args(lab.BY_NAME[name]), command], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"{name}: `{command[:120]}` exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


class LabHost:
    """What the acceptance suite's Pbx asks of its host (testinfra's check_output), over the lab's ssh."""

    def __init__(self, name: str) -> None:
        self.name = name

    def check_output(self, command: str) -> str:
        return ssh(self.name, command).strip()


PBX = Pbx(LabHost("pbx"))


def raise_switch_limits(rate: float, talk: int) -> dict[str, str]:
    """The switch's session limits raised for the run, as the issue's measurements had them; returns
    the site's values, put back afterwards. The site sizes them at two sessions a call, but each
    8-800 call here rings three phones (four sessions), so at the site's values the switch itself
    refuses calls ("Throttle Error", a 500 to the caller), routed by the controller or not."""
    limits = {"sps": str(int(rate * 4 * 2)), "max_sessions": str(int(rate * (talk + 10) * 4))}
    before = {name: PBX.api(f"fsctl {name}").rpartition(" ")[2] for name in limits}  # "+OK sessions-per-second: 120"
    if not all(value.isdigit() for value in before.values()):
        raise SystemExit(f"lab_load: the switch's session limits could not be read: {before}")
    for name, value in limits.items():
        PBX.api(f"fsctl {name} {value}")
    print(f"switch limits for the run: sessions per second {limits['sps']}, max sessions {limits['max_sessions']} (the site's: {before['sps']}, {before['max_sessions']})")
    return before


def relay_real_time(on: bool) -> None:
    """The carrier's Kamailio (every process of it) on the real-time scheduler for the run, or back."""
    policy = "--rr -p 1" if on else "--other -p 0"
    ssh("carrier", f"for pid in $(pidof kamailio); do chrt {policy} $pid; done")


def put(name: str, path: str, text: str) -> None:
    ssh(name, f"mkdir -p {WORK} && cat > {shlex.quote(path)} <<'SCENARIO_END'\n{text}\nSCENARIO_END")


def ledger(sql: str, *params: str) -> list[list]:
    code = "import json, sqlite3, sys; db = sqlite3.connect('file:/var/lib/bizpbx/ledger.sqlite3?mode=ro', uri=True); print(json.dumps(db.execute(sys.argv[1], sys.argv[2:]).fetchall()))"
    return json.loads(ssh("pbx", f"python3 -c {shlex.quote(code)} {shlex.quote(sql)} {' '.join(map(shlex.quote, params))}"))


def sip_passwords() -> dict[str, str]:
    code = "import yaml, json; d = yaml.safe_load(open('/etc/bizpbx/site.sip-passwords.yml')); print(json.dumps({f'{o}-{e}': v['password'] for o, org in d['organizations'].items() for e, v in org['employees'].items()}))"
    return json.loads(ssh("pbx", f"/opt/bizpbx/venv/bin/python -c {shlex.quote(code)}"))


def controller_cpu_seconds() -> float:
    """The controller process's CPU time so far, user + system (from /proc: the lab's containers
    keep no CPU accounting for systemd to show); 0 while stopped."""
    command = "pid=$(systemctl show -P MainPID bizpbx-controller); cat /proc/$pid/stat; getconf CLK_TCK"
    stat, _, ticks = ssh("pbx", command, check=False).strip().rpartition("\n")
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / int(ticks) if len(fields) > 12 and ticks.isdigit() else 0.0


def parked_calls_missed() -> float:
    """bizpbx_parked_calls_missed_total: calls the dialplan's fallback took before the controller."""
    command = "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9464/metrics').read().decode())\""
    found = re.search(r"^bizpbx_parked_calls_missed_total (\S+)$", ssh("pbx", command, check=False), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def start_phones() -> None:
    passwords = sip_passwords()
    phone, pbx = lab.BY_NAME["phone"].address, lab.BY_NAME["pbx"].address
    ssh("phone", "pkill -x sipp; sleep 1", check=False)
    for user, port in PHONES.items():
        put("phone", f"{WORK}/answer.xml", answering_phone())
        ssh("phone", f"cd {WORK} && ({GENERATOR} -sf answer.xml -i {phone} -p {port} -nostdin -max_socket 5000 {WATCHDOG} > answer-{user}.out 2>&1 &)")
        register = REGISTRATION_SCENARIO.format(domain=pbx, user=user, password=passwords[user], contact_port=port, expires=3600)
        put("phone", f"{WORK}/register.xml", register)
        ssh("phone", f"cd {WORK} && sipp {pbx}:5060 -sf register.xml -m 1 -i {phone} -p {port + 1000} -nostdin -timeout 20s -timeout_error > /dev/null")


def hang_up_stragglers() -> None:
    """A mode's stragglers (calls still ringing or hanging up, the relay's retransmissions to a busy
    switch) would load the next mode's run: they are waited for while their count falls. A call whose
    caller SIPp aborted stays up for good (its BYE has no route set the relay can follow), so those
    left when the count stops falling are hung up, and counted."""
    last, since = -1, time.monotonic()
    while up := PBX.calls_up():
        if up != last:
            last, since = up, time.monotonic()
        elif time.monotonic() - since > STUCK_SECONDS:
            print(f"{up} channel(s) of the previous run still up after {STUCK_SECONDS} s unchanged: hung up", file=sys.stderr)
            PBX.api("hupall MANAGER_REQUEST")
            PBX.wait_no_calls()
            return
        time.sleep(1)


PUBLIC_DIALPLAN = "/etc/freeswitch/dialplan/public.xml"


def static_dialplan(rendered: str | None) -> str:
    """The pbx's public dialplan sent straight into the fallback twin (`static_mode`), or put back
    as `rendered`; returns the file as it was. `systemctl reload freeswitch` is `bizpbx reload`."""
    before = ssh("pbx", f"cat {PUBLIC_DIALPLAN}")
    put("pbx", PUBLIC_DIALPLAN, (rendered if rendered is not None else straight_to_fallback(before)).removesuffix("\n"))  # put ends it with one
    ssh("pbx", "systemctl reload freeswitch")
    return before


def run(mode: str, rate: float, seconds: int, talk: int) -> dict:
    caller = f"7843{int(time.time()) % 10_000_000:07d}"  # Kazan; unique to this run
    calls = int(rate * seconds)
    carrier = lab.BY_NAME["carrier"].address
    put("carrier", f"{WORK}/load.xml", CALLER_SCENARIO.format(keys="", sdp=SDP, called=HOTLINE, caller=caller, talk_ms=talk * 1000))
    hang_up_stragglers()
    start_phones()  # afresh: a mode's phones do not carry what the previous mode did to them
    if mode == "static":
        ssh("pbx", "systemctl stop bizpbx-controller")
        rendered = static_dialplan(None)
    cpu_before, missed_before = controller_cpu_seconds(), parked_calls_missed()
    started = time.monotonic()
    out = ssh(
        "carrier",
        f"cd {WORK} && {GENERATOR} {carrier}:5060 -sf load.xml -i {carrier} -p 5080 -mi {carrier} -r {rate} -m {calls} "
        f"-timeout {seconds * 4 + 60}s -nostdin -max_socket 5000 {WATCHDOG} -trace_err -error_file load.err > load.out 2>&1; tail -c 6000 load.out",
        check=False,
    )
    elapsed = time.monotonic() - started
    cpu, missed = controller_cpu_seconds() - cpu_before, parked_calls_missed() - missed_before
    if mode == "static":
        static_dialplan(rendered)
        ssh("pbx", "systemctl start bizpbx-controller")
    counts = {name: int(value) for name, value in COUNTS.findall(out)}
    if counts.get("Failed call"):
        print(f"{mode}: SIPp's first errors:", ssh("carrier", f"grep -m3 -o 'Aborting call.*\\|received .SIP/2.0 [0-9]* [A-Za-z ]*' {WORK}/load.err", check=False), file=sys.stderr)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the sweep reads what the event socket missed within seconds
        rated = ledger("SELECT count(*), count(DISTINCT uuid), sum(source NOT LIKE 'esl') FROM calls WHERE caller = ?", caller)[0]
        if rated[0] >= counts.get("Total Calls created", calls):
            break
        time.sleep(2)
    return {
        "mode": mode,
        "offered": f"{rate:g} calls/s x {calls}",
        "placed": counts.get("Total Calls created", 0),
        "succeeded": counts.get("Successful call", 0),
        "failed": counts.get("Failed call", 0),
        "calls/s reached": round(counts.get("Total Calls created", 0) / elapsed, 1) if elapsed else 0,
        "seconds": round(elapsed, 1),
        "in the ledger": rated[0],
        "distinct": rated[1],
        "rated once": rated[0] == rated[1],
        "only through the CDR sweep": rated[2] or 0,
        "controller CPU per call": f"{cpu / max(counts.get('Total Calls created', 0), 1) * 1000:.2f} ms" if mode == "controller" else "-",
        "taken by the fallback before the controller": int(missed) if mode == "controller" else "-",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=30)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--talk", type=int, default=2, help="seconds each call talks")
    parser.add_argument("--mode", choices=("both", "controller", "static"), default="both")
    args = parser.parse_args()
    reason = lab.why_impossible()
    if reason or not all(lab.machine_pid(host) for host in lab.HOSTS):
        print(f"lab_load: the lab is not up ({reason or 'make lab first'})", file=sys.stderr)
        return 2
    modes = ("controller", "static") if args.mode == "both" else (args.mode,)
    site_limits = raise_switch_limits(args.rate, args.talk)
    relay_real_time(True)
    try:
        results = [run(mode, args.rate, args.seconds, args.talk) for mode in modes]
    finally:
        relay_real_time(False)
        for name, value in site_limits.items():
            PBX.api(f"fsctl {name} {value}")
    for result in results:
        print("  ".join(f"{key}: {value}" for key, value in result.items()))
    if len(results) == 2 and results[1]["calls/s reached"]:
        print(f"controller-routed rate: {100 * results[0]['calls/s reached'] / results[1]['calls/s reached']:.0f} % of the static dialplan's")
    ssh("phone", "pkill -x sipp", check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
