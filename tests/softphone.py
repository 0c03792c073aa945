"""Debian's baresip as a phone over TLS with SRTP, for the live tests and the lab.

It registers as an employee to the switch's TLS port, checks the switch's
certificate against the CA it is given, takes and offers SRTP only
(`mediaenc=srtp-mand`), answers every call by itself, sends a tone as its voice
and plays what it hears into an audio bridge; it dials when told on its console
(the `cons` module: commands as UDP datagrams on loopback)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

MODULES = ("g711.so", "srtp.so", "ausine.so", "aubridge.so", "cons.so", "account.so", "menu.so")


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    domain: str
    switch: str  # host:port of the switch's TLS listener
    cafile: Path  # the CA that signed the switch's certificate


def configuration(*, sip_listen: str, cafile: Path, console_port: int, rtp_ports: tuple[int, int]) -> str:
    modules = "".join(f"module\t\t{name}\n" for name in MODULES if name not in ("account.so", "menu.so"))
    return (
        "poll_method\t\tepoll\n"
        f"sip_listen\t\t{sip_listen}\n"
        f"sip_cafile\t\t{cafile}\n"
        "audio_player\t\taubridge,heard\n"
        "audio_source\t\tausine,440\n"
        # ausine makes 48 kHz stereo only; baresip resamples and mixes it down for G.711.
        "ausrc_srate\t\t48000\n"
        "ausrc_channels\t\t2\n"
        "audio_alert\t\taubridge,alert\n"
        f"rtp_ports\t\t{rtp_ports[0]}-{rtp_ports[1]}\n"
        "module_path\t\t/usr/lib/baresip/modules\n"
        f"{modules}"
        "module_app\t\taccount.so\n"
        "module_app\t\tmenu.so\n"
        f"cons_listen\t\t127.0.0.1:{console_port}\n"
    )


def accounts_line(account: Account) -> str:
    """baresip's accounts file: the employee's AOR over TLS through the switch's TLS port."""
    return (
        f"<sip:{account.user}@{account.domain};transport=tls>;auth_pass={account.password};"
        f'outbound="sip:{account.switch};transport=tls";mediaenc=srtp-mand;answermode=auto;'
        "audio_codecs=PCMA,PCMU;regint=300\n"
    )


def console(port: int, command: str, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(command.encode() + b"\n", (host, port))
