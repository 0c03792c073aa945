"""The recordings' endpoint over real HTTP on loopback: the signed URL that
call.recorded carries fetches the WAV, byte for byte; anything else is
refused with the reason named (a wrong or missing signature, an expired URL,
a path that is not a recording's, a file gone or leading outside the
recordings directory), and the signature never reaches a log line."""

from __future__ import annotations

import json
import logging
import wave
from pathlib import Path

import pytest
from http_exchange import exchange

from bizpbx.controller.recordings import signature, signed_url, url_path
from bizpbx.controller.recordings_http import RecordingsEndpoint

SECRET = "a-recordings-url-secret-of-32-chars!"
CALL = "1b1e4d52-4d8c-4c3e-9d0a-2f0e6c1a7b11"
OTHER_CALL = "2b1e4d52-4d8c-4c3e-9d0a-2f0e6c1a7b12"
NOW = 1_800_000_000


@pytest.fixture
def recordings_site(site, tmp_path: Path):
    directory = tmp_path / "recordings"
    directory.mkdir()

    def with_recordings(data):
        data["recordings"] = {"dir": str(directory), "http": {"public_url": "https://pbx.example/calls"}, "url_secret": SECRET}

    return site(with_recordings)


def a_recording(directory: Path, call_uuid: str, seconds: float = 1.5) -> bytes:
    """A WAV as the switch writes one (8 kHz, 16-bit mono); its bytes."""
    path = directory / f"{call_uuid}.wav"
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(bytes(range(256)) * int(seconds * 8000 * 2 / 256))
    return path.read_bytes()


def fetch(site, target: str, method: str = "GET", now: float = NOW) -> tuple[int, dict[str, str], bytes]:
    """One request to the endpoint; status, headers (lower-case names) and body."""

    return exchange([RecordingsEndpoint(site, clock=lambda: now)], f"{method} {target} HTTP/1.1\r\nHost: pbx\r\n\r\n".encode())


def signed_target(site, call_uuid: str, now: float = NOW) -> str:
    """The path and query of the URL call.recorded gives for the call."""
    url, _ = signed_url(site, call_uuid, now)
    return url.removeprefix("https://pbx.example/calls")


def error_of(body: bytes) -> str:
    return json.loads(body)["error"]


def test_the_url_of_call_recorded_fetches_the_recording_byte_for_byte(recordings_site):
    sound = a_recording(recordings_site.recordings.dir, CALL)
    status, headers, body = fetch(recordings_site, signed_target(recordings_site, CALL))
    assert status == 200 and body == sound
    assert headers["content-type"] == "audio/wav" and int(headers["content-length"]) == len(sound)
    assert headers["cache-control"] == "private, no-store"
    status, headers, body = fetch(recordings_site, signed_target(recordings_site, CALL), method="HEAD")
    assert (status, int(headers["content-length"]), body) == (200, len(sound), b"")


def test_an_expired_url_is_gone_and_says_when_it_expired(recordings_site):
    a_recording(recordings_site.recordings.dir, CALL)
    target = signed_target(recordings_site, CALL, now=NOW - 86400 - 1)  # a day's URL, from a day and a second ago
    status, _, body = fetch(recordings_site, target)
    assert status == 410 and f"expired at {NOW - 1}" in error_of(body)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("", "must carry one expires and one signature"),
        (f"expires={NOW + 60}", "must carry one expires and one signature"),
        (f"expires={NOW + 60}&signature={signature(SECRET, url_path(CALL), NOW + 60)}&signature=00", "must carry one"),
        (f"expires=soon&signature={signature(SECRET, url_path(CALL), NOW + 60)}", "expires: not an epoch second"),
        (f"expires={NOW + 61}&signature={signature(SECRET, url_path(CALL), NOW + 60)}", "signature: not this site's"),
        (f"expires={NOW + 60}&signature={signature(SECRET, url_path(OTHER_CALL), NOW + 60)}", "signature: not this site's"),
        (f"expires={NOW + 60}&signature={signature('another-secret-of-thirty-two-chars!!', url_path(CALL), NOW + 60)}", "signature: not this site's"),
        # An expired URL with a forged signature is refused as forged: expiry is told to holders of real URLs only.
        (f"expires={NOW - 60}&signature=00", "signature: not this site's"),
    ],
)
def test_a_url_the_site_did_not_sign_for_this_recording_and_expiry_is_forbidden(recordings_site, query, named):
    a_recording(recordings_site.recordings.dir, CALL)
    status, _, body = fetch(recordings_site, f"{url_path(CALL)}?{query}")
    assert status == 403 and named in error_of(body)


@pytest.mark.parametrize(
    "path",
    [
        "/recordings/../../../etc/passwd",
        "/recordings/%2e%2e/%2e%2e/etc/passwd",
        f"/recordings/{CALL}.wav/../../secret.wav",
        f"/recordings/{CALL.upper()}.wav",
        f"/recordings/{CALL}.mp3",
        "/recordings/",
    ],
)
def test_a_path_that_is_not_a_recordings_is_not_found_signed_or_not(recordings_site, path):
    a_recording(recordings_site.recordings.dir, CALL)
    expires = NOW + 60
    status, _, body = fetch(recordings_site, f"{path}?expires={expires}&signature={signature(SECRET, path, expires)}")
    assert status == 404 and "is not a recording" in error_of(body)


def test_a_link_out_of_the_directory_and_a_deleted_recording_are_not_found(recordings_site, tmp_path: Path):
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"not for the CRM")
    (recordings_site.recordings.dir / f"{CALL}.wav").symlink_to(outside)
    status, _, body = fetch(recordings_site, signed_target(recordings_site, CALL))
    assert status == 404 and "outside the recordings directory" in error_of(body)
    status, _, body = fetch(recordings_site, signed_target(recordings_site, OTHER_CALL))
    assert status == 404 and "deleted by the retention, or never made" in error_of(body)


def test_only_get_and_head_and_the_signature_is_never_logged(recordings_site, caplog):
    a_recording(recordings_site.recordings.dir, CALL)
    target = signed_target(recordings_site, CALL)
    with caplog.at_level(logging.DEBUG):
        status, _, body = fetch(recordings_site, target, method="DELETE")
        fetch(recordings_site, target)
    assert status == 405 and "fetched with GET" in error_of(body)
    given = target.partition("signature=")[2]
    assert given and not any(given in record.getMessage() for record in caplog.records)
    assert any(f"GET {url_path(CALL)}: 200" in record.getMessage() for record in caplog.records)
