"""Call recording with a real FreeSWITCH (see test_live.py for the set-up):
organization 34 records the calls from outside, with the notice. A SIPp
phone registered as 34-200 answers an 8-800 call from Kazan; the switch
records it into recordings.dir, and the controller announces the file by
call.recorded once the call has ended, also when it was killed mid-call
and learnt of the call from the CDR after its restart; with recordings.http,
the event's signed URL fetches the file from the controller's listener."""

from __future__ import annotations

import math
import signal
import socket
import struct
import subprocess
import urllib.request
import wave
from contextlib import closing
from pathlib import Path

import pytest
from local_net import free_port
from test_live import HOTLINE, Live, answered_by_phone, live, sipp, wait_for  # noqa: F401 - live is the fixture
from test_live import pytestmark as live_test_marks

from bizpbx.controller.outbox import Outbox
from bizpbx.ledger import Ledger
from bizpbx.ledger.recordings import recording_of
from bizpbx.sounds import voice_dir

pytestmark = live_test_marks  # skipped without FreeSWITCH or SIPp, as the live controller test is


def records_inbound_with_notice(data: dict) -> None:
    data["organizations"]["34"]["recording"] = {"calls": "inbound", "notice": True}


URL_SECRET = "a-recordings-url-secret-of-32-chars!"


def records_inbound_with_notice_and_urls(data: dict) -> None:
    records_inbound_with_notice(data)
    port = free_port()
    data["controller"]["api"] = {"port": port}  # no clients: the listener serves the recordings alone
    data["recordings"] = {**data.get("recordings", {}), "http": {"public_url": f"http://127.0.0.1:{port}"}, "url_secret": URL_SECRET}


def announced(live: Live) -> tuple[dict, dict]:
    """The call's call.ended and call.recorded, once both are in the outbox."""

    def events() -> dict[str, dict]:
        with closing(Outbox(live.site.controller.ledger)) as outbox:
            return {e.name: e.data for e in outbox.after(0, limit=1000)}

    wait_for(lambda: {"call.ended", "call.recorded"} <= events().keys(), "call.ended and call.recorded in the outbox", bound=90)
    found = events()
    return found["call.ended"], found["call.recorded"]


def the_recording_matches_the_call(live: Live, ended: dict, recorded: dict) -> float:
    """Checks the file and its ledger row; returns its length in seconds."""
    path = Path(recorded["path"])
    assert path.parent == live.site.recordings.dir and path.name == f"{recorded['call_uuid']}.wav"
    with wave.open(str(path), "rb") as sound:  # a WAV Python's own reader plays
        seconds = sound.getnframes() / sound.getframerate()
        assert sound.getnchannels() in (1, 2) and sound.getframerate() >= 8000
    assert recorded["seconds"] == pytest.approx(seconds, abs=0.01) and recorded["bytes"] == path.stat().st_size
    assert recorded["organization"] == "34"
    if live.site.recordings.http is None:
        assert recorded["url"] is None
    else:  # the URL the CRM is given fetches the very file from the controller
        with urllib.request.urlopen(recorded["url"], timeout=30) as answer:
            assert answer.status == 200 and answer.headers["Content-Type"] == "audio/wav"
            assert answer.read() == path.read_bytes()
    with Ledger(live.site.controller.ledger) as ledger:
        stored = recording_of(ledger, recorded["call_uuid"])
        assert stored is not None and stored.path == str(path)
        assert ledger.has(recorded["call_uuid"]), "the recording is tied to a call of the ledger"
    return seconds


@pytest.mark.parametrize("live", [records_inbound_with_notice_and_urls], indirect=True)
def test_a_recorded_hotline_call_leaves_a_wav_as_long_as_the_call_announced_by_call_recorded(live: Live):
    answered_by_phone(live, lambda: live.call(HOTLINE, talk_ms=6000, speaks=True))
    ended, recorded = announced(live)
    assert ended["answered"] is True and ended["duration"] >= 5
    the_recording_matches_the_call(live, ended, recorded)


NOTICE_SECONDS = 0.5


def write_tone(path: Path, seconds: float, hertz: int = 1000) -> None:
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hertz * n / 8000))) for n in range(int(8000 * seconds))))


def loud_seconds(path: Path, within: float) -> float:
    """How much of the recording's first `within` seconds is not silence (20 ms windows)."""
    with wave.open(str(path), "rb") as sound:
        window = sound.getframerate() // 50
        frames = [sound.readframes(window) for _ in range(int(within * 50))]
    width = 2 * sound.getnchannels()
    loud = [frame for frame in frames if max(abs(v) for (v,) in struct.iter_unpack("<h", frame[: len(frame) // width * width])) > 2000]
    return len(loud) / 50


@pytest.mark.parametrize("live", [records_inbound_with_notice], indirect=True)
def test_the_recording_lasts_as_long_as_the_call_and_begins_with_the_notice(live: Live):
    write_tone(voice_dir(live.site) / live.site.recordings.notice, NOTICE_SECONDS)
    # Neither side sends audio for the first 2 s (the SIPp phone never does): the recording
    # advances by the switch's media clock (rtp-timer-name), not by the packets that arrive.
    answered_by_phone(live, lambda: live.call(HOTLINE, talk_ms=6000, speaks=True))
    ended, recorded = announced(live)
    # From the answer to the hang-up: the call's billed time (whole seconds from the switch).
    assert abs(the_recording_matches_the_call(live, ended, recorded) - ended["duration"]) <= 1.0
    # The caller heard the notice, and the recording proves it (record_session's pre-buffer lost it).
    assert loud_seconds(Path(recorded["path"]), within=1.5) == pytest.approx(NOTICE_SECONDS, abs=0.06)


@pytest.mark.parametrize("live", [records_inbound_with_notice], indirect=True)
def test_a_controller_killed_mid_call_still_leaves_the_recording_and_its_event_after_restart(live: Live):
    def call_and_kill_the_controller() -> None:
        live.write_caller(HOTLINE, talk_ms=8000, speaks=True)
        caller = subprocess.Popen(
            sipp(live.work, "caller", f"127.0.0.1:{live.external}", "-m", "1", "-p", str(free_port(socket.SOCK_DGRAM))),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=live.work,
        )
        with closing(Outbox(live.site.controller.ledger)) as outbox:
            wait_for(lambda: any(e.name == "call.answered" for e in outbox.after(0)), "the phone to answer")
        live.controller.send_signal(signal.SIGKILL)
        live.controller.wait(30)
        live.controller = None  # type: ignore[assignment]
        out, err = caller.communicate(timeout=60)
        assert caller.returncode == 0, out[-2000:] + err[-2000:]

    answered_by_phone(live, call_and_kill_the_controller)
    live.start_controller()  # reads the call from the CDR files
    ended, recorded = announced(live)
    assert ended.get("recovered") is True, "the controller was down when the call ended"
    the_recording_matches_the_call(live, ended, recorded)
