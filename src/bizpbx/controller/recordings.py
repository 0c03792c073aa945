"""Call recordings on the controller's side: found when a call ends (its CDR
names the file the switch recorded into), stored in the ledger and announced
to the CRM by `call.recorded`; signed, expiring URLs for them; and the
retention that deletes the oldest files first.

A URL is ``<public_url>/recordings/<call uuid>.wav?expires=<epoch>&signature=<hex>``,
the signature an HMAC-SHA256 with the site's `recordings.url_secret` of the
path and the expiry, so the endpoint (`bizpbx.controller.recordings_http`)
serves a file to whoever holds an unexpired URL and to no one else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
import wave
from dataclasses import dataclass
from pathlib import Path

from bizpbx.controller import call_events
from bizpbx.ledger import Ledger
from bizpbx.ledger.recordings import StoredRecording, mark_deleted
from bizpbx.rating import CallRecord
from bizpbx.settings import Site

log = logging.getLogger(__name__)

# A call UUID as FreeSWITCH makes it: the file name, and the only thing a URL may name.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
WAV_HEADER_BYTES = 44  # a WAV with nothing recorded after its header: no recording


def url_path(call_uuid: str) -> str:
    return f"/recordings/{call_uuid}.wav"


def signature(secret: str, path: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_url(site: Site, call_uuid: str, now: float) -> tuple[str, int] | None:
    """(URL, expiry epoch) of a recording, None when the site has no endpoint."""
    settings = site.recordings
    if settings.http is None or settings.url_secret is None:
        return None
    expires = int(now) + settings.http.url_seconds
    path = url_path(call_uuid)
    query = f"expires={expires}&signature={signature(settings.url_secret.get_secret_value(), path, expires)}"
    return f"{settings.http.public_url.rstrip('/')}{path}?{query}", expires


def is_signed(secret: str, path: str, expires: int, given: str) -> bool:
    """Whether `given` is the site's signature of `path` and `expires` (compared in constant time)."""
    return hmac.compare_digest(signature(secret, path, expires).encode(), given.encode())


def wav_seconds(path: Path) -> float:
    """The length of the WAV the switch wrote (wave.Error/OSError when it is none)."""
    with wave.open(str(path), "rb") as sound:
        return sound.getnframes() / sound.getframerate()


class RecordingKeeper:
    """Finds each finished call's recording and makes its `call.recorded` (both stored with the
    call, `Ledger.record`)."""

    def __init__(self, site: Site) -> None:
        self._site = site

    def found(self, call: CallRecord) -> tuple[StoredRecording, call_events.CallEvent] | None:
        """The call's recording, if the switch wrote one, and its event (None: no recording)."""
        if not call.recording:
            return None
        path = Path(call.recording)
        try:
            size = path.stat().st_size
            seconds = wav_seconds(path) if size > WAV_HEADER_BYTES else 0.0
        except (OSError, wave.Error, EOFError) as error:
            if call.answer_epoch:
                log.warning("recording %s of an answered call cannot be read: %s", path, error, extra={"call_uuid": call.uuid})
            return None  # never answered: never recorded
        if not seconds:
            return None
        now = time.time()
        stored = StoredRecording(call.uuid, call.organization, str(path), round(seconds, 3), size, int(now))
        url = signed_url(self._site, call.uuid, now)
        at = call_events.epoch_time(call.end_epoch) if call.end_epoch else call_events.now()
        return stored, call_events.recorded(call.uuid, at, call.organization or None, round(seconds, 3), size, str(path), url)


@dataclass(frozen=True, slots=True)
class RecordingFile:
    path: str
    modified: float  # epoch
    size: int


def to_delete(files: list[RecordingFile], now: float, retention_days: int, max_bytes: int) -> list[RecordingFile]:
    """The files the retention deletes: every one older than the retention, then the
    oldest of the rest until they fit in `max_bytes`."""
    oldest_first = sorted(files, key=lambda f: (f.modified, f.path))
    cutoff = now - retention_days * 86400
    doomed = [f for f in oldest_first if f.modified < cutoff]
    kept = [f for f in oldest_first if f.modified >= cutoff]
    total = sum(f.size for f in kept)
    while kept and total > max_bytes:
        total -= kept[0].size
        doomed.append(kept.pop(0))
    return doomed


def clean_up(site: Site, ledger: Ledger, now: float) -> int:
    """Apply the retention to the recordings directory; returns the files deleted."""
    directory = site.recordings.dir
    files = []
    for path in directory.glob("*.wav"):
        try:
            status = path.stat()
        except FileNotFoundError:
            continue
        files.append(RecordingFile(str(path), status.st_mtime, status.st_size))
    doomed = to_delete(files, now, site.recordings.retention_days, site.recordings.max_disk_mb * 1024 * 1024)
    for recording in doomed:
        Path(recording.path).unlink(missing_ok=True)
    mark_deleted(ledger, [f.path for f in doomed], int(now))
    if doomed:
        log.info("recordings retention: %d file(s) deleted from %s", len(doomed), directory)
    return len(doomed)
