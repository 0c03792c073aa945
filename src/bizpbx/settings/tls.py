"""SIP over TLS with SRTP: the phones' profile, and the trunk profile for
providers reached over TLS; where the switch's certificate comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from bizpbx.settings.fields import Model, Port


def _on_the_server(path: Path) -> Path:
    # The role reads these files on the server, not beside the site file.
    if not path.is_absolute():
        raise ValueError(f"{path} is not an absolute path (a file on the server)")
    return path


ServerPath = Annotated[Path, AfterValidator(_on_the_server)]
HostName = Annotated[str, Field(max_length=253, pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")]


class Tls(Model):
    """The switch's TLS listeners and certificate; FreeSWITCH reads agent.pem (certificate and key)
    and cafile.pem from `cert_dir`, which the freeswitch role fills."""

    enabled: bool = Field(False, description="SIP over TLS for the phones on `port`, and for trunks whose transport is tls on `trunk_port`")
    port: Port = Field(5061, description="the phones' SIP over TLS port (internal profile)")
    trunk_port: Port = Field(5081, description="the trunk profile's TLS port, listening only when a trunk's transport is tls")
    certificate: Literal["self-signed", "files", "acme"] = Field(
        "self-signed",
        description="self-signed: made on the server with openssl; files: the admin's cert_file and key_file; acme: issued for acme_domain by certbot",
    )
    cert_file: ServerPath | None = Field(None, description="certificate: files: the PEM certificate (with its chain) on the server")
    key_file: ServerPath | None = Field(None, description="certificate: files: its PEM private key on the server")
    acme_domain: HostName | None = Field(None, description="certificate: acme: the server's public name, resolving to it, with 80/tcp reachable from the internet")
    acme_email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = Field(None, description="certificate: acme: the account's address for expiry notices")
    cert_dir: ServerPath = Field(Path("/etc/freeswitch-tls"), description="where the switch's agent.pem and cafile.pem are (outside conf_dir, which render replaces whole)")
    srtp: Literal["optional", "mandatory"] = Field(
        "optional", description="SRTP on the phones' calls: optional offers and accepts it, mandatory refuses a phone's call without it"
    )

    @model_validator(mode="after")
    def _certificate_source_complete(self) -> Tls:
        needs = {"self-signed": (), "files": ("cert_file", "key_file"), "acme": ("acme_domain", "acme_email")}
        for name in needs[self.certificate]:
            if getattr(self, name) is None:
                raise ValueError(f"certificate is {self.certificate}, so {name} must be set")
        for name in {"cert_file", "key_file", "acme_domain", "acme_email"} - set(needs[self.certificate]):
            if getattr(self, name) is not None:
                raise ValueError(f"{name} is set but certificate is {self.certificate}, which does not read it")
        if self.port == self.trunk_port:
            raise ValueError(f"port and trunk_port are both {self.port}")
        return self
