"""The recordings' endpoint on the controller's HTTP listener: GET (or HEAD)
``/recordings/<call uuid>.wav?expires=…&signature=…``, the signed expiring URL
of `call.recorded`, serves that file from `recordings.dir`.

Refused: a path naming anything but a call UUID's WAV (404), a missing or
wrong signature (403), an expired URL (410), a file that resolves outside
the directory (a link out of it: 404, as if absent), a recording deleted by
the retention (404). Which check failed is told to the client, never the
signature; the query is not logged.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

from bizpbx.controller.http_server import HttpError, Request, Response
from bizpbx.controller.recordings import UUID, is_signed, url_path
from bizpbx.settings import Site

PATH = re.compile(rf"/recordings/({UUID.pattern})\.wav")


class RecordingsEndpoint:
    prefix = "/recordings/"

    def __init__(self, site: Site, clock: Callable[[], float] = time.time) -> None:
        assert site.recordings.url_secret is not None, "settings.recordings requires url_secret with http"
        self._secret = site.recordings.url_secret.get_secret_value()
        self._directory = site.recordings.dir
        self._clock = clock

    async def answer(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise HttpError(405, f"{request.method}: a recording is fetched with GET (or HEAD)")
        call_uuid = requested_uuid(request.path)
        check_signature(self._secret, call_uuid, request.query, self._clock())
        source, size = open_inside(self._directory, f"{call_uuid}.wav")
        return Response(200, content_type="audio/wav", file=source, file_size=size, headers={"Cache-Control": "private, no-store"})


def requested_uuid(path: str) -> str:
    """The call UUID a recording's path names (404 for any other path)."""
    found = PATH.fullmatch(path)
    if found is None:
        raise HttpError(404, f"{path!r} is not a recording: /recordings/<call uuid>.wav")
    return found.group(1)


def check_signature(secret: str, call_uuid: str, query: str, now: float) -> None:
    """Refuses a URL without a valid signature of its path and expiry (403), or expired (410)."""
    fields = parse_qs(query, keep_blank_values=True)
    expires, given = fields.get("expires", [""]), fields.get("signature", [""])
    if len(expires) != 1 or len(given) != 1 or not expires[0] or not given[0]:
        raise HttpError(403, "the URL must carry one expires and one signature, as call.recorded gives it")
    if not (expires[0].isascii() and expires[0].isdigit()):
        raise HttpError(403, "expires: not an epoch second")
    # The signature first: an expiry is told only to whoever holds a URL the site signed.
    if not is_signed(secret, url_path(call_uuid), int(expires[0]), given[0]):
        raise HttpError(403, "signature: not this site's signature of this recording and expiry")
    if int(expires[0]) < now:
        raise HttpError(410, f"the URL expired at {int(expires[0])} (epoch); call.recorded's URL is valid recordings.http.url_seconds")


def open_inside(directory: Path, name: str):
    """The regular file `name` in `directory`, open, with its size; 404 when absent or when
    it resolves (through a link) outside the directory."""
    root = directory.resolve()
    try:
        target = (root / name).resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        raise HttpError(404, f"recording {name} is not there (deleted by the retention, or never made)") from None
    if not target.is_relative_to(root):
        raise HttpError(404, f"recording {name} is not there (it points outside the recordings directory)")
    try:
        source = open(target, "rb")  # noqa: SIM115 — closed by the server once sent
    except OSError:
        raise HttpError(404, f"recording {name} cannot be read") from None
    status = os.fstat(source.fileno())
    if not stat.S_ISREG(status.st_mode):
        source.close()
        raise HttpError(404, f"recording {name} is not a file")
    return source, status.st_size
