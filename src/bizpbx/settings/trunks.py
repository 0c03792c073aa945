"""The customer's own SIP trunk."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from bizpbx.settings.fields import E164, Model, Port, Secret
from bizpbx.settings.rate_decks import RateDeckFile

KNOWN_CODECS = ("PCMA", "PCMU", "G722", "OPUS", "G729", "GSM", "ILBC", "SPEEX", "AMR", "AMR-WB", "H264", "VP8")


def _codec(value: str) -> str:
    name = value.strip().upper()
    if name not in KNOWN_CODECS:
        raise ValueError(f"unknown codec {value!r} (known: {', '.join(KNOWN_CODECS)})")
    return name


class Trunk(Model):
    """The customer's own SIP trunk."""

    proxy: str = Field(min_length=1, pattern=r"^[A-Za-z0-9.\-:\[\]]+$", description="provider's SIP host name or address")
    port: Port = Field(5060, description="the provider's SIP port; 5061 by default when transport is tls")
    transport: Literal["udp", "tcp", "tls"] = Field("udp", description="tls needs freeswitch.tls.enabled (the trunk profile's TLS listener)")
    auth: Literal["registration", "ip"] = Field("registration", description="register with username/password, or be trusted by source address")
    username: str | None = None
    password: Secret(8) | None = None
    realm: str | None = None
    register_expires: int = Field(600, ge=60, le=86400)
    caller_id: E164 | None = Field(None, description="number presented on outbound calls when the organization has none")
    codecs: list[Annotated[str, AfterValidator(_codec)]] = Field(default_factory=lambda: ["PCMA", "PCMU"], min_length=1)
    source_addresses: list[ipaddress.IPv4Network] = Field(min_length=1, description="provider's signalling addresses: ACL and firewall")
    max_concurrent_calls: int = Field(30, ge=1)
    numbers: list[E164] = Field(default_factory=list, description="numbers this trunk delivers to the site")
    rate_deck: RateDeckFile | None = Field(None, description="CSV of outbound prices per prefix")

    @model_validator(mode="before")
    @classmethod
    def _tls_port_by_default(cls, data: Any) -> Any:
        # SIP over TLS has its own well-known port (RFC 3261 section 19.1.2).
        if isinstance(data, dict) and data.get("transport") == "tls" and "port" not in data:
            return {**data, "port": 5061}
        return data

    @model_validator(mode="after")
    def _registration_needs_credentials(self) -> Trunk:
        if self.auth == "registration":
            # The password is a secret: bizpbx.site_rules asks for it where it is used.
            if self.username is None:
                raise ValueError("auth is registration, so username must be set")
        return self
