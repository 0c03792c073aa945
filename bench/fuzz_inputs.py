"""Fuzzing what bizpbx reads from outside: Event Socket bytes, site files, CDR lines.

A random mutation loop, in process, seeded from real inputs: the frames of
the FreeSWITCH captures in ../shared/esl-captures/ (split into frames and
re-encoded), the lab's site file (inventory/lab/site.yml) and CDR lines as
the renderer's template writes them. Each case mutates a seed (bit flips,
bytes and tokens inserted or deleted, spans repeated, two seeds spliced,
Content-Length values and numbers replaced by huge or odd ones, YAML aliases,
anchors, tags and keys inserted) and runs it through:

- esl: `FrameParser` fed in random chunks, every frame and event decoded as
  `bizpbx esl-dump` would print it; a share through an outbound `Connection`
  with commands awaiting replies. Only `ProtocolError` may escape.
- site: `parse_yaml` on the bytes; one case in 20 that reads is validated
  whole (`site_from_data`: the model, the rate deck, the cross-field rules).
  Only `SiteError` may escape.
- cdr: `parse_cdr_line`. Only `CdrError` may escape.

Anything else is a crash: its input and traceback are written to the crash
directory. Memory is capped (RLIMIT_AS) so that a blow-up is a MemoryError
caught as a crash, not the machine's end; peak RSS is printed and checked.

    .venv/bin/python bench/fuzz_inputs.py [--cases 10000000] [--seed N] [--crash-dir DIR]

Not part of `make test` (a run of ten million cases takes many minutes).
Exit 0 when nothing crashed and the peak RSS stayed under --max-rss-mib.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bizpbx.cdr import CDR_COLUMNS, cdr_csv_template
from bizpbx.esl import commands
from bizpbx.esl.connection import Connection, Role, State
from bizpbx.esl.errors import ProtocolError
from bizpbx.esl.events import Event
from bizpbx.esl.protocol import FrameParser, decoded_form, encode
from bizpbx.rating.cdr_input import CdrError, parse_cdr_line
from bizpbx.site_loader import SiteError, parse_yaml, site_from_data

REPO = Path(__file__).resolve().parents[1]
CAPTURES = REPO.parent / "shared" / "esl-captures"
LAB = REPO / "inventory" / "lab"

SHARES = {"esl": 0.80, "cdr": 0.15, "site": 0.05}
FULL_SITE_EVERY = 20
SEED_FRAMES_PER_CAPTURE = 400
SLOW_CASE_SECONDS = 1.0

ESL_TOKENS = [
    b"Content-Length: ", b"Content-Type: ", b"text/event-plain", b"text/event-json", b"api/response",
    b"command/reply", b"auth/request", b"text/disconnect-notice", b"text/rude-rejection", b"log/data",
    b"Content-Disposition: linger", b"Reply-Text: +OK", b"Reply-Text: -ERR", b"Job-UUID: ", b"Event-Name: ",
    b"BACKGROUND_JOB", b"CHANNEL_EXECUTE_COMPLETE", b"Application-UUID: ", b"\n\n", b"\n", b": ", b":",
    b"%", b"%0A", b"%00", b"%ZZ", b"%2", b"%E2%82", b"%ED%A0%80", b"ARRAY::", b"|:", b"ARRAY%3A%3A",
    b'"', b"{", b"}", b"[", b"]", b",", b'\\"', b"\\ud800", b"\\udfff", b"\\ud83d\\ude00", b"\\u0000",
    b'{"Event-Name":"', b'"_body":', b'"Content-Length":"', b"1e999", b"-1", b"NaN", b"null", b"true",
    b"9" * 4400, b"0" * 40, b"18446744073709551616", b"16777217", b"\x00", b"\xff\xfe", b"\xed\xa0\x80", b"\r\n",
]
SITE_TOKENS = [
    "&a ", "*a", "&b [*a, *a, *a, *a, *a, *a, *a, *a, *a]", "<<: *a", "? [a, b]\n: 1\n", "? {x: 1}\n: 2\n",
    "!!binary |\n  AAAA\n", "!!binary x", "!!python/object/apply:os.system ['true']", "!!set {a, b}", "!!omap [a: 1]",
    "!!timestamp 2026-13-45", "!!int 0x", "!!float x", "7: ", '"7": ', "'12': ", "12: ", "012: ", "0x0c: ",
    "${system(touch /tmp/x)}", "ivr/x y.wav", "../../../etc/passwd", "1e999", "9" * 5000, "2026-13-45",
    "2026-02-30", "[" * 70, "]" * 70, "{", "}", "- ", ": ", "'", '"', "\\", "\t", "\n", "\n  ", "null", "~",
    "yes", "NaN", ".inf", "-", "%", "@", "`", "|", ">", "#", "\x00", "\u2028", "\ud800",
]
CDR_TOKENS = [
    ",", '"', '""', '",', ',"', "{", "}", '"uuid":', '"billsec":', ":", "9" * 5000, "1e999", "NaN", "-1", "0.5",
    "\\ud800", "\\u0000", "[" * 50, "%22", "%0A", "%ZZ", "\x00", "\r", "\n", "true", "null", "outbound", "hotline",
]

_LENGTH = re.compile(rb"Content-Length: [0-9]+")
_DIGITS = re.compile(rb"[0-9]+")


# --- seeds ----------------------------------------------------------------------


def esl_seeds() -> list[bytes]:
    frames: dict[bytes, None] = {}
    for path in sorted(CAPTURES.glob("*.fs.bin*")):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)[: 2 * 1024 * 1024]
        parser = FrameParser()
        try:
            items = parser.feed(data)
        except ProtocolError:
            items = []
        for item in items[:SEED_FRAMES_PER_CAPTURE]:
            frames[encode(item)] = None
        if len(data) < 8192:
            frames[data] = None  # a whole short conversation
    if not frames:
        raise SystemExit(f"no Event Socket captures under {CAPTURES}")
    return list(frames)


def site_seeds(site: bytes) -> list[bytes]:
    lines = site.splitlines(keepends=True)
    return [site, b"".join(lines[: len(lines) // 2]), b"".join(lines[len(lines) // 3 :]), b"a: &a [1, 2]\nb: *a\n"]


def cdr_seeds() -> list[bytes]:
    values = {
        "uuid": "a1", "organization": "12", "direction": "outbound", "called_number": "+74951112233", "number_kind": "",
        "caller": "101", "callee": "84951112233", "start_epoch": "1795589990", "answer_epoch": "1795590000",
        "end_epoch": "1795590061", "duration": "71", "billsec": "61", "hangup_cause": "NORMAL_CLEARING", "trunk": "carrier",
        "bridge_epoch": "1795590004", "answered_by": "number:+74951112233", "voicemail": "",
    }
    line = cdr_csv_template()
    for column, variable in CDR_COLUMNS:
        line = re.sub(r"\$\{(?:url_encode\(\$\{)?" + re.escape(variable) + r"\}(?:\)\})?", values[column], line, count=1)
    return [line.encode(), json.dumps(values).encode(), json.dumps({**values, "billsec": 61, "answer_epoch": 1795590000}).encode()]


# --- mutation -------------------------------------------------------------------


class Mutator:
    def __init__(self, rng: random.Random, seeds: list[bytes], tokens: list[bytes]) -> None:
        self.rng = rng
        self.seeds = seeds
        self.tokens = tokens
        self.operations: list[Callable[[bytearray], None]] = [
            self.flip, self.flip, self.byte, self.insert_token, self.insert_token, self.insert_token,
            self.delete, self.repeat, self.splice, self.length, self.number, self.truncate,
        ]

    def __call__(self) -> bytes:
        data = bytearray(self.rng.choice(self.seeds))
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3, 4, 8))):
            self.rng.choice(self.operations)(data)
        return bytes(data)

    def _at(self, data: bytearray) -> int:
        return self.rng.randrange(len(data) + 1)

    def flip(self, data: bytearray) -> None:
        if data:
            i = self.rng.randrange(len(data))
            data[i] ^= 1 << self.rng.randrange(8)

    def byte(self, data: bytearray) -> None:
        if data:
            data[self.rng.randrange(len(data))] = self.rng.choice((0, 10, 13, 32, 34, 37, 58, 123, 125, 127, 128, 192, 237, 255, self.rng.randrange(256)))

    def insert_token(self, data: bytearray) -> None:
        at = self._at(data)
        data[at:at] = self.rng.choice(self.tokens)

    def delete(self, data: bytearray) -> None:
        if data:
            at = self.rng.randrange(len(data))
            del data[at : at + self.rng.choice((1, 2, 8, 64, 1024))]

    def repeat(self, data: bytearray) -> None:
        if data:
            at = self.rng.randrange(len(data))
            span = data[at : at + self.rng.choice((1, 16, 256))]
            data[at:at] = span * self.rng.choice((1, 2, 16, 200))

    def splice(self, data: bytearray) -> None:
        other = self.rng.choice(self.seeds)
        cut = self._at(data)
        data[cut:] = other[self.rng.randrange(len(other) + 1) :]

    def length(self, data: bytearray) -> None:
        matches = list(_LENGTH.finditer(data))
        if matches:
            m = self.rng.choice(matches)
            value = self.rng.choice((b"0", b"1", b"-1", b"99999999", b"4294967297", b"0000000000000000000012", b"9" * 4400, b"x", b"", str(self.rng.randrange(2**20)).encode()))
            data[m.start() : m.end()] = b"Content-Length: " + value

    def number(self, data: bytearray) -> None:
        matches = list(_DIGITS.finditer(data))
        if matches:
            m = self.rng.choice(matches)
            data[m.start() : m.end()] = self.rng.choice((b"9" * 5000, b"0", b"-1", b"1e999", b"18446744073709551616", b"00007"))

    def truncate(self, data: bytearray) -> None:
        if data:
            del data[self.rng.randrange(len(data)) :]


# --- targets ----------------------------------------------------------------------


def show(item: object) -> None:
    """Read a frame or event as esl-dump prints it (events decode lazily)."""
    form = decoded_form(item)  # type: ignore[arg-type]
    if isinstance(item, Event):
        _ = (item.name, item.subclass, item.unique_id, item.job_uuid, item.application_uuid)
    json.dumps(form, ensure_ascii=False).encode("utf-8")


def run_parser(data: bytes, rng: random.Random) -> None:
    parser = FrameParser(max_frame_size=rng.choice((16 * 1024 * 1024, 16 * 1024 * 1024, 4096)))
    position = 0
    while position < len(data):
        size = rng.choice((1, 7, 64, 512, 4096, 65536))
        for item in parser.feed(data[position : position + size]):
            show(item)
        position += size
    parser.end_of_stream()


def run_connection(data: bytes, rng: random.Random) -> None:
    """An outbound connection: `connect` sent, then, once it is answered, the
    commands a call's session sends; the bytes arrive in random chunks."""
    connection = Connection(Role.OUTBOUND)
    connection.send(commands.connect(), token="connect")
    later = [commands.myevents(), commands.linger(5), commands.execute("answer"), commands.api("status"), commands.bgapi("status")]
    position = 0
    while position < len(data):
        size = rng.choice((1, 64, 4096, 65536))
        for happening in connection.receive(data[position : position + size]):
            show(getattr(happening, "frame", None) or getattr(happening, "event", None) or happening)
        position += size
        if later and connection.state is State.READY:
            for command in later:
                connection.send(command, token=command.verb)
            later = []
    connection.end_of_stream()


def run_esl(data: bytes, rng: random.Random) -> None:
    (run_connection if rng.random() < 0.1 else run_parser)(data, rng)


class SiteTarget:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "site.yml"
        self.reads = 0
        self.validated = 0

    def __call__(self, data: bytes, rng: random.Random) -> None:
        settings = parse_yaml(data, self.path)
        self.reads += 1
        if self.reads % FULL_SITE_EVERY == 0:
            self.validated += 1
            site_from_data(settings, self.path)


def run_cdr(data: bytes, rng: random.Random) -> None:
    parse_cdr_line(data.decode("utf-8", "replace").strip())


# --- the loop ---------------------------------------------------------------------


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000_000, help="cases in all (default ten million)")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--crash-dir", type=Path, default=None, help="where crashing inputs go (default: a new temporary directory)")
    parser.add_argument("--max-rss-mib", type=int, default=768, help="peak RSS above this fails the run")
    parser.add_argument("--memory-limit-mib", type=int, default=2048, help="RLIMIT_AS: a case that needs more is a MemoryError crash")
    args = parser.parse_args()

    resource.setrlimit(resource.RLIMIT_AS, (args.memory_limit_mib * 1024 * 1024,) * 2)
    sys.set_int_max_str_digits(4300)  # Python's default, whatever the environment says
    crash_dir = args.crash_dir or Path(tempfile.mkdtemp(prefix="bizpbx-fuzz-"))
    crash_dir.mkdir(parents=True, exist_ok=True)

    workdir = Path(tempfile.mkdtemp(prefix="bizpbx-fuzz-site-"))
    (workdir / "rates.csv").write_bytes((LAB / "rates.csv").read_bytes())
    site = (LAB / "site.yml").read_bytes()
    # Full validation needs the secrets a site takes from the environment.
    os.environ.setdefault("BIZPBX_ESL__PASSWORD", "fuzz-esl-secret-1")
    os.environ.setdefault("BIZPBX_TRUNKS__CARRIER__PASSWORD", "fuzz-carrier-secret")

    rng = random.Random(args.seed)
    site_target = SiteTarget(workdir)
    targets = {
        "esl": (run_esl, Mutator(rng, esl_seeds(), ESL_TOKENS), ProtocolError),
        "cdr": (run_cdr, Mutator(rng, cdr_seeds(), [t.encode("utf-8", "surrogatepass") for t in CDR_TOKENS]), CdrError),
        "site": (site_target, Mutator(rng, site_seeds(site), [t.encode("utf-8", "surrogatepass") for t in SITE_TOKENS]), SiteError),
    }
    names, weights = list(SHARES), list(SHARES.values())
    runs: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    crashes: Counter[tuple[str, str]] = Counter()
    slowest = (0.0, "")
    started = last_report = time.monotonic()
    print(f"fuzzing {args.cases} cases (seed {args.seed}); crashes go to {crash_dir}", file=sys.stderr)

    for case in range(1, args.cases + 1):
        name = rng.choices(names, weights)[0]
        run, mutate, allowed = targets[name]
        data = mutate()
        began = time.monotonic()
        try:
            run(data, rng)
        except allowed:
            refused[name] += 1
        except BaseException as error:  # noqa: BLE001 - everything else is what we look for
            if isinstance(error, KeyboardInterrupt):
                break
            frame = traceback.extract_tb(error.__traceback__)[-1]
            key = (name, f"{type(error).__name__} at {Path(frame.filename).name}:{frame.lineno}")
            crashes[key] += 1
            if crashes[key] <= 3:
                stem = crash_dir / f"{name}-{len(crashes)}-{crashes[key]}"
                stem.with_suffix(".bin").write_bytes(data)
                stem.with_suffix(".txt").write_text("".join(traceback.format_exception(error)))
                print(f"CRASH {key[0]}: {key[1]}: {str(error)[:200]} -> {stem}.bin", file=sys.stderr)
            del error
        elapsed = time.monotonic() - began
        runs[name] += 1
        if elapsed > slowest[0]:
            slowest = (elapsed, name)
            if elapsed > SLOW_CASE_SECONDS:
                (crash_dir / f"slow-{name}-{case}.bin").write_bytes(data)
        now = time.monotonic()
        if now - last_report > 30:
            last_report = now
            rate = case / (now - started)
            print(f"  {case} cases, {rate:,.0f}/s, {sum(crashes.values())} crashes, peak RSS {peak_rss_mib():.0f} MiB", file=sys.stderr)

    seconds = time.monotonic() - started
    total = sum(runs.values())
    rss = peak_rss_mib()
    print(f"cases run: {total} (esl {runs['esl']}, cdr {runs['cdr']}, site {runs['site']} of which {site_target.validated} validated whole)")
    print(f"refused with the project's own error: esl {refused['esl']}, cdr {refused['cdr']}, site {refused['site']}")
    print(f"time: {seconds:.0f} s; cases/s: {total / seconds:,.0f}")
    print(f"crashes found: {sum(crashes.values())} ({len(crashes)} distinct)" + "".join(f"\n  {n}: {w} x{c}" for (n, w), c in crashes.most_common()))
    print(f"slowest case: {slowest[0] * 1000:.1f} ms ({slowest[1]})")
    print(f"peak RSS: {rss:.0f} MiB (limit {args.max_rss_mib} MiB; address space capped at {args.memory_limit_mib} MiB)")
    return 0 if not crashes and rss <= args.max_rss_mib else 1


if __name__ == "__main__":
    sys.exit(main())
