"""The switch: the shared main number, FreeSWITCH's directories, SIP profiles
and sizing, and its event socket."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from bizpbx.settings.fields import E164, LoopbackAddress, Model, Port, Secret, SoundPath, check_sound_path
from bizpbx.settings.tls import Tls

class MainNumber(Model):
    number: E164 = "+74952121562"
    prompt: SoundPath = Field("ivr/ivr-please_enter_extension_followed_by_pound.wav", description="asks for the organization ID")
    invalid_prompt: SoundPath = "ivr/ivr-that_was_an_invalid_entry.wav"
    max_attempts: int = Field(3, ge=1, le=10)
    digit_timeout_seconds: int = Field(5, ge=1, le=30)


# mod_local_stream's stream of the files in the sounds directory's music/<rate>/ (local_stream.conf).
DEFAULT_HOLD_MUSIC = "local_stream://moh"


def _hold_music(value: str) -> str:
    """The stream the renderer sets up, or a sound file like any prompt."""
    if value == DEFAULT_HOLD_MUSIC:
        return value
    try:
        return check_sound_path(value)
    except ValueError as error:
        raise ValueError(f"neither {DEFAULT_HOLD_MUSIC} nor a sound file: {error}") from None


HoldMusic = Annotated[str, AfterValidator(_hold_music)]


class SipProfile(Model):
    ip: ipaddress.IPv4Address | None = Field(None, description="address to bind; the host's primary address when unset")
    port: Port
    external_ip: ipaddress.IPv4Address | None = Field(None, description="public address behind NAT")


class PhonesProfile(SipProfile):
    udp: bool = Field(True, description="plain SIP (UDP and TCP) for the phones on port; false: TLS only (needs tls.enabled)")


# A call through the switch is two sessions (the caller's leg and the leg it is bridged to), and
# FreeSWITCH's max-sessions and sessions-per-second count sessions.
SESSIONS_PER_CALL = 2


class FreeSwitch(Model):
    conf_dir: Path = Path("/etc/freeswitch")
    log_dir: Path = Path("/var/log/freeswitch")
    storage_dir: Path = Path("/var/lib/freeswitch/storage")
    sounds_dir: Path = Path("/usr/share/freeswitch/sounds")
    phrases_dir: Path = Field(
        Path("/usr/share/freeswitch/lang"),
        description="FreeSWITCH's phrase files by language (package freeswitch-lang-en; etc/freeswitch/lang in a source build): voicemail speaks with them",
    )
    sip_domain: Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")] | None = Field(None, description="domain phones register to; the internal profile's address when unset")
    max_calls: int = Field(500, ge=1, le=50000, description="calls at once; the switch counts each call's two legs, so its max-sessions is twice this")
    calls_per_second: int = Field(30, ge=1, le=5000, description="new calls a second; the switch's sessions-per-second is twice this (both legs count)")
    rtp_start_port: Port = 16384
    rtp_end_port: Port = 32768
    internal: PhonesProfile = PhonesProfile(port=5060)
    external: SipProfile = SipProfile(port=5080)
    tls: Tls = Tls()
    phone_networks: list[ipaddress.IPv4Network] = Field(
        default_factory=lambda: [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")],
        min_length=1,
        description="where phones may register from",
    )
    hold_music: HoldMusic = Field(
        DEFAULT_HOLD_MUSIC, description="what a caller on hold hears: local_stream://moh (the files in the sounds directory's music/8000 …) or a sound file"
    )
    log_level: Literal["debug", "info", "notice", "warning", "err"] = "info"

    @property
    def max_sessions(self) -> int:
        return SESSIONS_PER_CALL * self.max_calls

    @property
    def sessions_per_second(self) -> int:
        return SESSIONS_PER_CALL * self.calls_per_second

    @model_validator(mode="after")
    def _ports_make_sense(self) -> FreeSwitch:
        if self.rtp_start_port >= self.rtp_end_port:
            raise ValueError(f"rtp_start_port {self.rtp_start_port} must be below rtp_end_port {self.rtp_end_port}")
        if self.internal.port == self.external.port:
            raise ValueError(f"internal and external SIP profiles both use port {self.internal.port}")
        if not self.internal.udp and not self.tls.enabled:
            raise ValueError("internal.udp is false, but tls.enabled is not: the phones would have no way to register")
        if self.tls.enabled:
            clash = {self.internal.port, self.external.port} & {self.tls.port, self.tls.trunk_port}
            if clash:
                raise ValueError(f"tls uses port {min(clash)}, which a plain SIP profile (internal.port, external.port) uses")
        return self


class Esl(Model):
    host: LoopbackAddress = ipaddress.IPv4Address("127.0.0.1")
    port: Port = 8021
    password: Secret(12) | None = Field(None, description="required by render, the controller and validate; ClueCon and other well-known values are refused")
    acl: list[ipaddress.IPv4Network] = Field(
        default_factory=lambda: [ipaddress.IPv4Network("127.0.0.1/32")], min_length=1, description="who may connect"
    )

    @field_validator("acl")
    @classmethod
    def _loopback_only(cls, networks: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        for network in networks:
            if not network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
                raise ValueError(f"{network} is not on loopback; the event socket is reachable from loopback only")
        return networks

