"""The cluster lab as its tests see it: phones calling out through the proxy, which node took each
call (the nodes' CDR files), the proxy's view of the nodes (its dispatcher), the shared ledger on
db, and a CRM on the phone host that records every webhook delivery it gets."""

from __future__ import annotations

import json
import re
import shlex
import time

from sipp_scenarios import PHONE_CALLER_SCENARIO, PHONE_REFUSED_SCENARIO, SDP

from .sipp_runs import WORK, put, sipp

SETTLE_SECONDS = 60
# A call talks past the deck's 3 free seconds (inventory/cluster/rates.csv), so it is billed.
TALK_MS = 4000
# Fewer calls at once than organization 12's limit (6): a call over it is refused with a prompt, and
# with this scenario's phone, which sends no RTP, the prompt's playback never ended (seen in the lab:
# the refused call stayed in it for two minutes; PHONE_REFUSED_SCENARIO sends RTP for that).
AT_ONCE = 4
CRM_PORT = 8099  # controller.webhooks.crm.url in inventory/cluster/site.yml
CDR_FILES = "/var/log/freeswitch/cdr-csv/Master.csv*"
KAMCMD = "kamcmd -s unix:/run/kamailio/kamailio_ctl"
_SAFE = re.compile(r"^[A-Za-z0-9+_.:-]+$")  # what the tests put into SQL and shell text

# Behind the proxy the phone's ACK and BYE follow the Record-Route it learnt from the 200 OK:
# without a Route the proxy could not tell where they go.
ROUTED = {"CSeq: 2 ACK": "[routes]\nCSeq: 2 ACK", "CSeq: 3 BYE": "[routes]\nCSeq: 3 BYE"}


def routed(scenario: str) -> str:
    for plain, with_route in ROUTED.items():
        scenario = scenario.replace(plain, with_route)
    return scenario


# The caller's scenario takes each call's number from its injection file (field0). A refused
# call's ACK is the INVITE transaction's own, which the proxy relays without a Route.
CALLER = routed(PHONE_CALLER_SCENARIO)
REFUSED = PHONE_REFUSED_SCENARIO

# The CRM: takes each POST, answers 200, appends the body as one line.
CRM_SCRIPT = """
import http.server, sys
class Crm(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "ab") as out:
            out.write(body.replace(b"\\n", b" ") + b"\\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[3])), Crm).serve_forever()
"""


def safe(text: str) -> str:
    assert _SAFE.match(text), text
    return text


class Cluster:
    def __init__(self, proxy, nodes: dict, db, carrier, phone, addresses: dict[str, str], passwords: dict[str, str]) -> None:
        self.proxy, self.nodes, self.db, self.carrier, self.phone = proxy, nodes, db, carrier, phone
        self.addresses, self.passwords = addresses, passwords
        self.target = f"{addresses['proxy']}:5060"

    # --- the ledger on db -------------------------------------------------------------------
    def query(self, sql: str) -> list[dict]:
        wrapped = f"SELECT coalesce(json_agg(t), '[]'::json) FROM ({sql}) t"
        out = self.db.check_output(f"runuser -u postgres -- psql -d bizpbx -XAtc {shlex.quote(wrapped)}")
        return json.loads(out)

    def calls_to(self, numbers: list[str]) -> dict[str, list[dict]]:
        """Each number's rows in `calls`, once every number has one (or what there is at the end of the wait)."""
        listed = ", ".join(f"'{safe(n)}'" for n in numbers)
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            rows = self.query(f"SELECT * FROM calls WHERE called_number IN ({listed}) OR callee IN ({listed})")
            by_number = {n: [r for r in rows if n in (r["called_number"], r["callee"])] for n in numbers}
            if all(by_number.values()) or time.monotonic() > deadline:
                return by_number

    def events_of(self, uuids: list[str]) -> list[dict]:
        listed = ", ".join(f"'{safe(u)}'" for u in uuids)
        return self.query(f"SELECT key, call_uuid, name FROM call_events WHERE call_uuid IN ({listed}) ORDER BY id")

    def active_calls(self, organization: str) -> list[dict]:
        return self.query(f"SELECT call_uuid, node FROM active_calls WHERE organization = '{safe(organization)}' AND expires_at > extract(epoch FROM now())")

    # --- the nodes --------------------------------------------------------------------------
    def node_of(self, number: str) -> str | None:
        """The node whose FreeSWITCH wrote a CDR of a call to `number`."""
        # A call refused before it was bridged has the number only as dialled: URL-encoded (%2B7495...).
        spellings = f"-e {safe(number)} -e {safe(number).replace('+', '%2B')}"
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            found = [name for name, host in self.nodes.items() if host.run(f"grep -qF {spellings} {CDR_FILES}").rc == 0]
            assert len(found) <= 1, f"{number} in the CDRs of {found}"
            if found:
                return found[0]
            time.sleep(1)
        return None

    def controller_ready(self, name: str) -> bool:
        out = self.nodes[name].run("/opt/bizpbx/venv/bin/bizpbx status /etc/bizpbx/site.yml --json").stdout
        return out.strip().startswith("{") and json.loads(out).get("esl_connected") is True

    # --- the proxy --------------------------------------------------------------------------
    def dispatcher(self) -> dict[str, str]:
        """Each node's flags at the proxy, by name (A active, I inactive; P probing), both sets agreeing."""
        listing = self.proxy.check_output(f"{KAMCMD} dispatcher.list")
        flags: dict[str, set[str]] = {}
        for uri, flag in re.findall(r"URI: sip:([0-9.]+):\d+\s+FLAGS: (\w+)", listing):
            name = next(n for n, address in self.addresses.items() if address == uri)
            flags.setdefault(name, set()).add(flag[0])
        return {name: "".join(sorted(f)) for name, f in flags.items()}

    def wait_dispatcher(self, name: str, state: str, timeout: float = SETTLE_SECONDS) -> float:
        """Seconds until the proxy holds node `name` in `state` (A or I) for both its profiles."""
        start = time.monotonic()
        while self.dispatcher().get(name) != state:
            assert time.monotonic() - start < timeout, f"{name} not {state} at the proxy after {timeout}s: {self.dispatcher()}"
            time.sleep(0.2)
        return time.monotonic() - start

    def wait_ready(self) -> None:
        """Both nodes' controllers on their switch, both nodes active at the proxy."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while not all(self.controller_ready(n) for n in self.nodes) or set(self.dispatcher().values()) != {"A"}:
            assert time.monotonic() < deadline, f"not ready: dispatcher {self.dispatcher()}"
            time.sleep(1)

    # --- calls ------------------------------------------------------------------------------
    def place(
        self, user: str, numbers: list[str], *, talk_ms: int = TALK_MS, per_second: float = 5, at_once: int = AT_ONCE, background: bool = False
    ) -> str:
        """Calls from phone `user` (ORG-EXT) through the proxy, one to each number, `at_once` at most in progress."""
        name = f"out-{user}"
        put(self.phone, f"{WORK}/{name}.csv", "SEQUENTIAL\n" + "".join(f"{safe(n)};\n" for n in numbers))
        fields = {"called": "[field0]", "domain": self.addresses["proxy"], "user": user, "password": self.passwords[user], "sdp": SDP}
        put(self.phone, f"{WORK}/{name}.xml", CALLER.format(talk_ms=talk_ms, **fields))
        port = 7000 + sum(map(ord, user)) % 1000
        args = ["-i", self.addresses["phone"], "-p", str(port), "-inf", f"{name}.csv", "-r", str(per_second), "-l", str(at_once)]
        if background:
            # Nothing of the background job keeps the ssh session's stdin or output open: ssh returns at once
            # (a `cd` outside the parentheses was backgrounded with them, holding the session's output).
            command = f"(cd {WORK} && sipp {self.target} -sf {name}.xml -m {len(numbers)} {' '.join(args)} -timeout 120s -nostdin > {name}.out 2>&1; echo $? > {WORK}/{name}.rc) < /dev/null > /dev/null 2>&1 &"
            self.phone.run(f"rm -f {WORK}/{name}.rc; {command}")
            return ""
        return sipp(self.phone, name, self.target, *args, calls=len(numbers), timeout=120)

    def background_result(self, user: str) -> str:
        name = f"out-{user}"
        deadline = time.monotonic() + 180
        while self.phone.run(f"test -f {WORK}/{name}.rc").rc != 0:
            assert time.monotonic() < deadline, f"{name}: SIPp did not end"
            time.sleep(1)
        return f"sipp-exit={self.phone.check_output(f'cat {WORK}/{name}.rc')}\n" + self.phone.run(f"tail -c 2000 {WORK}/{name}.out").stdout

    def place_refused(self, user: str, number: str, status: int) -> str:
        name = f"refused-{user}"
        fields = {"called": safe(number), "domain": self.addresses["proxy"], "user": user, "password": self.passwords[user], "sdp": SDP}
        put(self.phone, f"{WORK}/{name}.xml", REFUSED.format(status=status, **fields))
        return sipp(self.phone, name, self.target, "-i", self.addresses["phone"], "-p", "6990")

    # --- the CRM ----------------------------------------------------------------------------
    def start_crm(self) -> None:
        put(self.phone, f"{WORK}/crm.py", CRM_SCRIPT)
        self.phone.run(f"rm -f {WORK}/crm.jsonl")
        command = f"python3 {WORK}/crm.py {self.addresses['phone']} {WORK}/crm.jsonl {CRM_PORT}"
        self.phone.run(f"cd {WORK} && ({command} < /dev/null > crm.out 2>&1 & echo $! > crm.pid)")

    def stop_crm(self) -> None:
        self.phone.run(f"kill $(cat {WORK}/crm.pid) 2>/dev/null; true")

    def deliveries(self) -> list[dict]:
        text = self.phone.run(f"cat {WORK}/crm.jsonl 2>/dev/null").stdout
        return [json.loads(line) for line in text.splitlines() if line.strip()]
