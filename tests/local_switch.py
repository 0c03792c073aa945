"""A real FreeSWITCH 1.10 running a site on loopback, under a work directory of its own:
shared by the live controller tests and the local load (bench/local_load.py).

`put_on_loopback` changes a site file's data so that every port is a free
loopback port and every directory is under the work directory (the trunk is
IP-authenticated, so nothing registers towards a carrier);
`freeswitch_command` renders the site there and gives the command line that
runs the switch in the foreground. A source build installs no sounds, so the
main number's prompts and the recording notice are given to the switch as silence,
in the voice directory of the site's language.
"""

from __future__ import annotations

import socket
import subprocess
import wave
from pathlib import Path

from local_net import free_port

from bizpbx.render import render_site
from bizpbx.render.file_tree import replace_tree
from bizpbx.settings import Site
from bizpbx.sounds import voice_dir

RUNTIME_DIRECTORIES = ("log", "db", "run", "storage", "cache", "temp", "recordings", "sounds")


def write_silence(path: Path) -> None:
    """Half a second of silence as a prompt: a prompt FreeSWITCH cannot open ends
    play_and_get_digits at once, without waiting for a single digit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\0\0" * 4000)


def put_on_loopback(data: dict, work: Path, prefix: Path) -> tuple[int, int]:
    """Change a site's data in place to run under `work` on free loopback ports;
    returns the external (trunk) and internal (phones) SIP ports."""
    external, internal = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    data["freeswitch"].update(
        log_dir=str(work / "log"),
        storage_dir=str(work / "storage"),
        sounds_dir=str(work / "sounds"),
        phrases_dir=str(prefix / "etc" / "freeswitch" / "lang"),  # where a source build installs them
        phone_networks=["127.0.0.0/8"],
        sip_domain="127.0.0.1",
        internal={"ip": "127.0.0.1", "port": internal},
        external={"ip": "127.0.0.1", "port": external},
        # Below the kernel's ephemeral ports (32768-60999), where free_port's picks (the phones',
        # the trunk's) land: an RTP port taken by one of them failed a call (Bind Error).
        rtp_start_port=20000,
        rtp_end_port=20100,
    )
    carrier = data["trunks"]["carrier"]
    carrier.update(proxy="127.0.0.1", port=free_port(socket.SOCK_DGRAM), auth="ip", source_addresses=["127.0.0.1/32"])
    carrier.pop("username", None)
    carrier.pop("realm", None)
    data["esl"] = {"port": free_port()}
    data["controller"] = {"metrics": {"port": free_port()}, "ledger": str(work / "ledger.sqlite3")}
    data["recordings"] = {"dir": str(work / "recordings")}
    # The lab's phones over TLS need the certificate its role makes: a test that wants TLS sets it up.
    data["freeswitch"].pop("tls", None)
    return external, internal


def freeswitch_command(site: Site, work: Path, prefix: Path) -> list[str]:
    """Render `site` into work/conf and return the command that runs FreeSWITCH on it (cwd: `work`)."""
    binary = prefix / "bin" / "freeswitch"
    if not binary.is_file():
        raise FileNotFoundError(f"{binary} does not exist: FREESWITCH_PREFIX must be the install prefix")
    conf = work / "conf"
    replace_tree(conf, render_site(site))
    command = [str(binary), "-nonat", "-nf", "-nc", "-conf", str(conf), "-mod", str(prefix / "lib" / "freeswitch" / "mod")]
    for name in RUNTIME_DIRECTORIES:
        (work / name).mkdir(exist_ok=True)
        command += [f"-{name}", str(work / name)]
    for prompt in (site.main_number.prompt, site.main_number.invalid_prompt, site.recordings.notice):
        write_silence(voice_dir(site) / prompt)
    return command


def stop_switch(process: subprocess.Popen) -> None:
    """Stop a FreeSWITCH the test started: asked first, killed if it is not gone within 30 s."""
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
