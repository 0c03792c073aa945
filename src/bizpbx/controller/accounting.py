"""Runtime rating: every finished call into the ledger once, and its call events.

Two sources describe finished calls: CHANNEL_HANGUP_COMPLETE events on the
inbound event socket (at once) and the CDR files FreeSWITCH writes (also
while the controller is down or the socket is lost). Both go through
`finished`, and both the ledger (by call UUID) and the outbox (by event key)
store a call once, so reading a call from both, or reading a CDR line again
after a crash, never counts it twice. A CDR file's offset is saved only
after its lines are stored.

The CDR directory belongs to the switch; the controller reads it through
the switch's group (the role's permission model). When it cannot (missing,
unreadable), routing goes on: the problem is logged once, kept in
`cdr_problem` for `bizpbx status` and shown by a metric, and reading
resumes by itself once it is fixed.

Controllers on several nodes sharing a PostgreSQL ledger read a CDR file one
at a time: each file under a lease named after its first line (a call's
UUID), so the same file seen by two nodes (shared storage) is read by one,
and each node's own files by that node. Read twice, it would still store
each call once; the lease spares the work.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from bizpbx.controller import call_events
from bizpbx.controller.metrics import Metrics
from bizpbx.controller.outbox import Outbox, event_rows
from bizpbx.controller.recordings import RecordingKeeper
from bizpbx.esl.events import Event
from bizpbx.ledger import Ledger, RatedCall
from bizpbx.ledger.cluster import Lease
from bizpbx.rating import CallRecord, Rater, RatingOutcome
from bizpbx.rating.cdr_input import CdrError, NeverRouted, parse_cdr_line
from bizpbx.settings import Site

log = logging.getLogger(__name__)

# The channel events the controller subscribes to on the inbound socket (the
# events of a call's course come from the controller's own socket: see call_events),
# and the switch-side filters that keep only the callers' legs (a CDR's legs=a) and the legs
# the switch dialled that carry a call (a click-to-call's, a transferred client's: the switch
# calls them `outbound`, yet it writes their CDRs): the B-legs' hang-ups, as large and as
# many, never cross the socket. An event passes if it matches any filter.
SUBSCRIBED_EVENTS = ("CHANNEL_HANGUP_COMPLETE",)
EVENT_FILTERS = call_events.CALL_LEG_HEADERS
# A hang-up rated later than this after it happened: the consumer is falling behind, and
# the CDR sweep (every 5 s) may rate calls before their events: said in the log and metrics.
LAG_WARNING_SECONDS = 2.0
# While the event socket is connected, a CDR line of a call that ended less than this ago waits
# for a later sweep: its hang-up event is on its way (the switch writes the CDR first), and a call
# rated from its CDR while the consumer keeps up would be counted as the socket's miss.
EVENT_GRACE_SECONDS = 10
CDR_FILE_PATTERN = "Master.csv*"  # the file mod_cdr_csv writes, and its rotated copies
CDR_CHUNK_BYTES = 4 * 1024 * 1024  # read and stored a batch at a time, however large the file


def cdr_file_key(status: os.stat_result, head: bytes) -> str:
    """What a CDR file's offset is kept under: its device and inode, so it
    survives mod_cdr_csv's rotation (a rename), and a digest of its first line
    (a call's UUID), so a new file that reuses the inode of a deleted one is
    read from its start."""
    return f"{status.st_dev}:{status.st_ino}:{_head_digest(head)}"


def _head_digest(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()[:16]


class Accounting:
    def __init__(
        self,
        rater: Rater,
        ledger: Ledger,
        outbox: Outbox,
        metrics: Metrics,
        site: Site,
        *,
        file_lease: Callable[[str], Lease] | None = None,
        hung_up: Callable[[str], None] = lambda uuid: None,
    ) -> None:
        self._hung_up = hung_up  # told of every call found over (by UUID), from its event or its CDR line
        self._file_lease = file_lease  # with controllers on several nodes: a CDR file's lease, by the name given
        self._site = site  # who the events name: employees by extension
        self._rater = rater
        self._ledger = ledger
        self._outbox = outbox
        self._metrics = metrics
        self._recordings = RecordingKeeper(site)
        self._line_counts: dict[str, tuple[int, int]] = {}  # file key -> (offset, lines before it)
        self.cdr_problem: str | None = None  # why the CDR files cannot be read, None while they can
        self._held: list[tuple[CallRecord, float | None]] = []  # hang-ups not yet stored, and when they happened
        self.behind = False  # the last hang-ups were rated over LAG_WARNING_SECONDS late

    def use(self, site: Site, rater: Rater) -> None:
        """Rate calls that end from now on, and name their people, by a reloaded site."""
        self._site = site
        self._rater = rater
        self._recordings = RecordingKeeper(site)

    def on_event(self, event: Event) -> None:
        """One event from the inbound socket, stored at once."""
        self.hold(event)
        self.flush()

    def hold(self, event: Event) -> None:
        """Take an event from the inbound socket; a hang-up is stored at the next `flush`, with
        the others that came with it (one transaction for a batch, not one per call)."""
        name = event.name  # read without decoding the event: most events are not about calls
        if name not in SUBSCRIBED_EVENTS or not call_events.is_call_leg(event):
            return
        self._hung_up(event.unique_id or "")
        try:
            record = call_events.record_from_event(event)
        except CdrError as error:
            self._not_rated(error, event.unique_id)
            return
        self._held.append((record, call_events.event_epoch(event)))

    def flush(self, emitted: Sequence[tuple[str, str, str, dict]] = ()) -> int:
        """Rate and store the hang-ups held, after the events of calls in progress `emitted`
        meanwhile (one transaction); returns how many calls were new to the ledger."""
        held, self._held = self._held, []
        if not held and not emitted:
            return 0
        new = self.finished([(record, "esl") for record, _ in held], hung_up_at={record.uuid: call_events.epoch_time(at) for record, at in held if at}, before=emitted)
        self._note_lag([time.time() - at for _, at in held if at])
        return new

    def _note_lag(self, lags: list[float]) -> None:
        """From each hang-up to its rating: observed, and said once when it passes the mark and once when back."""
        for lag in lags:
            self._metrics.event_lag.observe(max(lag, 0.0))
        if not lags:
            return
        worst = max(lags)
        if worst > LAG_WARNING_SECONDS and not self.behind:
            log.warning("the event consumer falls behind: hang-ups rated %.1f s after they happened; the CDR sweep may rate calls first", worst)
        elif worst <= LAG_WARNING_SECONDS and self.behind:
            log.info("the event consumer keeps up again: hang-ups rated %.2f s after they happened", worst)
        self.behind = worst > LAG_WARNING_SECONDS
        self._metrics.event_consumer_behind.set(int(self.behind))

    def _not_rated(self, error: CdrError, where: str | None) -> None:
        if isinstance(error, NeverRouted):
            self._metrics.never_routed.inc()
            log.debug("%s: %s", where, error)
        else:
            self._metrics.rating_errors.inc()
            log.error("%s: CDR not rated: %s", where, error)

    def finished(
        self,
        records: Iterable[tuple[CallRecord, str]],
        hung_up_at: dict[str, str] | None = None,
        *,
        recovered: bool = False,
        before: Sequence[tuple[str, str, str, dict]] = (),
    ) -> int:
        """Rate and store calls (record, source) in one transaction; returns how many were new to the ledger.

        `hung_up_at`: when each call (by UUID) hung up, as its event said; `recovered`: read from
        the CDR files (call.missed and call.ended say so); `before`: events stored in the same
        transaction ahead of the calls' own. The call's events go out in order, each once (by
        event key): see call_events; a call the switch recorded is announced (call.recorded)
        with its recording, stored with its call.
        """
        rated, ended = [], []
        for record, source in records:
            rating = self._rater.rate(record)
            rated.append(RatedCall(record, rating, source))
            at = hung_up_at.get(record.uuid) if hung_up_at else None
            ended += [event.as_row() for event in call_events.finished(self._site, record, rating, at, recovered=recovered)]
            if rating.outcome is RatingOutcome.UNRATED:
                self._metrics.rating_errors.inc()
                log.warning("call stored unrated: %s", rating.reason, extra={"call_uuid": record.uuid})
        fresh = self._new_to_ledger(rated)
        found = [recording for recording in map(self._recordings.found, (call.call for call in rated)) if recording is not None]
        recorded = [event.as_row() for _, event in found]
        # One commit for the batch: under load the disk made each cost the controller up to seconds.
        new = self._ledger.record(rated, event_rows([*before, *ended, *recorded], int(time.time())), [recording for recording, _ in found])
        for call in fresh:
            self._metrics.call_stored(call.call, call.rating, from_cdr=call.source != "esl")
        if new < len(rated):
            self._tell_differing([call for call in rated if call.source != "esl"])
        return new

    def _new_to_ledger(self, rated: list[RatedCall]) -> list[RatedCall]:
        """The calls of a batch the ledger does not hold yet: the metrics count each call once,
        however often its hang-up event and CDR lines are seen."""
        fresh, seen = [], set()
        for call in rated:
            if call.call.uuid not in seen and not self._ledger.has(call.call.uuid):
                fresh.append(call)
            seen.add(call.call.uuid)
        return fresh

    def _tell_differing(self, rated: list[RatedCall]) -> None:
        """Two CDR files that disagree on a call (the first stored is kept): say so.
        (A call's hang-up event and its CDR line are the same call seen twice.)"""
        for call, stored_from, what in self._ledger.differing(rated):
            if stored_from != "esl":
                log.warning("%s: call %s is already stored from %s with other data (%s); that one is kept", call.source, call.call.uuid, stored_from, what)

    def catch_up(self, cdr_dir: Path, *, grace_seconds: float = 0) -> int:
        """Take every CDR line not yet processed from the CDR files; returns the calls new to the ledger.

        `grace_seconds`: a call that ended less than this ago is left, with the lines after it, to a
        later sweep (its hang-up event may still be on its way)."""
        try:
            if not cdr_dir.is_dir():
                self._cdr_readable(cdr_dir, f"{cdr_dir} does not exist (FreeSWITCH makes it at its first CDR)", logged=logging.INFO)
                return 0
            files = sorted(cdr_dir.glob(CDR_FILE_PATTERN), key=lambda p: p.stat().st_mtime)
            ended_before = time.time() - grace_seconds if grace_seconds else None
            new = sum(self._catch_up_file(path, ended_before) for path in files)
        except OSError as error:
            where = error.filename or cdr_dir
            self._cdr_readable(cdr_dir, f"{where}: {error.strerror or error} (the controller reads the switch's CDRs through its group)", logged=logging.ERROR)
            return 0
        self._cdr_readable(cdr_dir, None)
        return new

    def _cdr_readable(self, cdr_dir: Path, problem: str | None, logged: int = logging.INFO) -> None:
        """Note whether the CDR files can be read; logged when that changes, not at every sweep."""
        if problem != self.cdr_problem:
            if problem is None:
                log.info("CDR files in %s readable", cdr_dir)
            else:
                log.log(logged, "CDR files cannot be read: %s; calls missed by the event socket wait until they can", problem)
        self.cdr_problem = problem
        self._metrics.cdr_problem(problem)

    def _catch_up_file(self, path: Path, ended_before: float | None) -> int:
        new = 0
        try:
            with path.open("rb") as handle:
                status = os.fstat(handle.fileno())
                head = handle.readline(CDR_CHUNK_BYTES)
                if not head.endswith(b"\n"):
                    return 0  # not one whole line yet
                key = cdr_file_key(status, head)
                lease = self._file_lease(f"cdr-file:{_head_digest(head)}") if self._file_lease else None
                if lease is not None and not lease.hold():
                    return 0  # another node reads it now
                try:
                    new = self._read_from_offset(path, handle, status, key, lease, ended_before)
                finally:
                    if lease is not None:
                        lease.release()
        except FileNotFoundError:
            pass  # rotated away between the listing and the read: read under its new name next time
        return new

    def _read_from_offset(self, path: Path, handle, status: os.stat_result, key: str, lease: Lease | None, ended_before: float | None) -> int:
        new = 0
        offset = self._outbox.offset(key)
        if offset > status.st_size:
            offset = 0  # the file was truncated and written anew
        line_number = self._lines_before(key, handle, offset)
        handle.seek(offset)
        while chunk := handle.read(CDR_CHUNK_BYTES):
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for the next sweep
            if not complete:
                break
            records, taken, too_recent = [], 0, False
            for raw in complete.split(b"\n")[:-1]:
                record = self._parse(raw, path, line_number + 1)
                if record is not None and ended_before is not None and record.end_epoch > ended_before:
                    too_recent = True  # this line and the ones after it: at a later sweep
                    break
                line_number += 1
                taken += len(raw) + 1
                if record is not None:
                    records.append((record, f"{path}:{line_number}"))
                    self._hung_up(record.uuid)
            new += self.finished(records, recovered=True)
            offset += taken
            self._outbox.set_offset(key, path, offset)
            self._line_counts[key] = (offset, line_number)
            if too_recent:
                break
            if lease is not None and not lease.hold():
                break  # lapsed during a long read: another node goes on from the offset stored
            handle.seek(offset)
        return new

    def _lines_before(self, key: str, handle, offset: int) -> int:
        """Lines in the first `offset` bytes (counted once per process, then kept)."""
        known = self._line_counts.get(key)
        if known is not None and known[0] == offset:
            return known[1]
        handle.seek(0)
        lines, left = 0, offset
        while left and (chunk := handle.read(min(CDR_CHUNK_BYTES, left))):
            lines += chunk.count(b"\n")
            left -= len(chunk)
        return lines

    def _parse(self, raw: bytes, path: Path, line_number: int) -> CallRecord | None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return None
        try:
            return parse_cdr_line(text)
        except CdrError as error:
            self._not_rated(error, f"{path}:{line_number}")
            return None
