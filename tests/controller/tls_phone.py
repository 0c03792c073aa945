"""A phone over TLS with SRTP for the live tests: a second FreeSWITCH 1.10 (its own
configuration, ports and directories) whose gateway registers to the switch under
test over TLS as an employee, and places or answers calls with SRTP.

Chosen over Debian's baresip because it is already here (FREESWITCH_PREFIX), is
driven through its event socket like the switch itself, and reports what it
negotiated (rtp_secure_media_negotiated, the SDP it received) per channel."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from xml.sax.saxutils import quoteattr

from local_net import free_port

MODULES = ("mod_console", "mod_logfile", "mod_event_socket", "mod_sofia", "mod_commands", "mod_dptools", "mod_dialplan_xml", "mod_tone_stream", "mod_sndfile")
ESL_PASSWORD = "tls-phone-esl-secret"


def _params(values: dict[str, object]) -> str:
    return "".join(f"<param name={quoteattr(name)} value={quoteattr(str(value))}/>" for name, value in values.items())


def phone_configuration(*, user: str, password: str, domain: str, switch_tls_port: int, esl_port: int, sip_port: int, tls_port: int, rtp_ports: tuple[int, int], cert_dir: Path) -> str:
    """freeswitch.xml of the phone: it registers as `user` to the switch's TLS port,
    answers every call put to it with a tone and takes SRTP only (RTP/SAVP); a call it
    places is parked once answered (extension `talk`) until the test hangs it up."""
    gateway = _params(
        {
            "proxy": f"127.0.0.1:{switch_tls_port}",
            "register-transport": "tls",
            "realm": domain,
            "from-domain": domain,
            "username": user,
            "password": password,
            "register": "true",
            "expire-seconds": 300,
            "retry-seconds": 5,
        }
    )
    profile = _params(
        {
            "context": "phone",
            "dialplan": "XML",
            "sip-ip": "127.0.0.1",
            "rtp-ip": "127.0.0.1",
            "sip-port": sip_port,
            "tls": "true",
            "tls-sip-port": tls_port,
            "tls-cert-dir": cert_dir,
            "tls-verify-policy": "none",
            "auth-calls": "false",
            "inbound-codec-prefs": "PCMA,PCMU",
            "outbound-codec-prefs": "PCMA,PCMU",
        }
    )
    modules = "".join(f'<load module="{name}"/>' for name in MODULES)
    return f"""<?xml version="1.0"?>
<document type="freeswitch/xml">
  <section name="configuration">
    <configuration name="switch.conf"><settings>{_params({"rtp-start-port": rtp_ports[0], "rtp-end-port": rtp_ports[1], "loglevel": "debug"})}</settings></configuration>
    <configuration name="modules.conf"><modules>{modules}</modules></configuration>
    <configuration name="console.conf"><settings/></configuration>
    <configuration name="logfile.conf"><profiles><profile name="default"><settings/><mappings><map name="all" value="debug,info,notice,warning,err,crit,alert"/></mappings></profile></profiles></configuration>
    <configuration name="event_socket.conf"><settings>{_params({"listen-ip": "127.0.0.1", "listen-port": esl_port, "password": ESL_PASSWORD})}</settings></configuration>
    <configuration name="sofia.conf"><profiles><profile name="phone"><gateways><gateway name="pbx">{gateway}</gateway></gateways><settings>{profile}</settings></profile></profiles></configuration>
  </section>
  <section name="dialplan">
    <context name="phone">
      <extension name="talk">
        <condition field="destination_number" expression="^talk$">
          <action application="park"/>
        </condition>
      </extension>
      <extension name="answer">
        <condition field="destination_number" expression=".">
          <action application="set" data="rtp_secure_media_inbound=mandatory"/>
          <action application="answer"/>
          <action application="playback" data="tone_stream://%(1000,500,440);loops=20"/>
        </condition>
      </extension>
    </context>
  </section>
</document>
"""


class TlsPhone:
    """The phone's FreeSWITCH process in `work` (its ports on loopback)."""

    def __init__(self, binary: Path, modules: Path, work: Path, **account: object) -> None:
        self.work = work
        self.esl_port = free_port()
        conf = work / "conf"
        for name in ("conf", "log", "db", "run", "tls", "temp", "storage", "cache", "sounds", "recordings"):
            (work / name).mkdir(parents=True, exist_ok=True)
        (conf / "freeswitch.xml").write_text(
            phone_configuration(
                esl_port=self.esl_port,
                sip_port=free_port(socket.SOCK_DGRAM),
                tls_port=free_port(),
                rtp_ports=(43000, 43100),
                cert_dir=work / "tls",
                **account,  # type: ignore[arg-type]
            ),
            encoding="utf-8",
        )
        command = [str(binary), "-nonat", "-nf", "-nc", "-conf", str(conf), "-mod", str(modules)]
        for name in ("log", "db", "run", "temp", "storage", "cache", "sounds", "recordings"):
            command += [f"-{name}", str(work / name)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=work)

    def log(self) -> str:
        path = self.work / "log" / "freeswitch.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
