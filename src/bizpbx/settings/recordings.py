"""Call recording: what each organization records, where the files go, how
long they stay, and the controller's endpoint the CRM fetches them from."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from bizpbx.settings.fields import Model, Secret, SoundPath


class RecordingPolicy(Model):
    """An organization's calls that are recorded; an employee's `record_calls` overrides it."""

    calls: Literal["all", "inbound", "off"] = Field("off", description="all calls, calls from outside only, or none")
    notice: bool = Field(False, description="the caller hears the site's recording notice before being connected")


class RecordingsHttp(Model):
    """The URLs in call.recorded: the controller's HTTP listener (controller.api: its host,
    port and the CRM's networks) serves them, signed and expiring."""

    public_url: str = Field(
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="how the CRM reaches the controller's listener (http://<address>:<controller.api.port>, or a reverse proxy's https address); the URLs start with it",
    )
    url_seconds: int = Field(86400, ge=60, le=30 * 86400, description="how long a URL in call.recorded stays valid")


class Recordings(Model):
    # Not inside /var/lib/bizpbx: the switch could not enter the controller's state directory (0750).
    dir: Path = Field(Path("/var/lib/bizpbx-recordings"), description="where the switch writes the recordings (one WAV per call)")
    retention_days: int = Field(90, ge=1, le=36_500, description="a recording older than this is deleted")
    max_disk_mb: int = Field(10_240, ge=1, description="the recordings' total size; beyond it the oldest are deleted first")
    notice: SoundPath = Field("bizpbx/recording-notice.wav", description="the notice, relative to the voice directory of the site's language, like every prompt")
    http: RecordingsHttp | None = Field(None, description="none: call.recorded carries the file's path, no URL")
    url_secret: Secret(32) | None = Field(None, description="HMAC-SHA256 key signing the URLs; required with http")

    @model_validator(mode="after")
    def _http_needs_a_secret(self) -> Recordings:
        if self.http is not None and self.url_secret is None:
            raise ValueError("http is set, so url_secret (32 characters or more) must be set to sign the recordings' URLs")
        if not self.dir.is_absolute():
            raise ValueError(f"dir {self.dir} must be an absolute path (the switch writes there)")
        return self
