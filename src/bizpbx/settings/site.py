"""The site itself: every part of it, and the environment's overrides."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bizpbx.settings.cluster import Cluster
from bizpbx.settings.controller import ControllerSettings
from bizpbx.settings.fields import E164, Digits, Language, Name, PromptText, SoundPath, to_e164
from bizpbx.settings.organizations import Number, Organization
from bizpbx.settings.recordings import Recordings
from bizpbx.settings.switch import Esl, FreeSwitch, MainNumber
from bizpbx.settings.tariffs import Tariffs
from bizpbx.settings.trunks import Trunk

class Site(BaseSettings):
    """A bizpbx site: trunks, numbers, organizations, tariffs, the switch."""

    model_config = SettingsConfigDict(
        env_prefix="BIZPBX_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )

    name: Name = "bizpbx"
    timezone: str = Field("Europe/Moscow", description="business hours and billing months")
    language: Language = Field("ru", description="what the switch speaks: its voice, phrases and say module, and the spoken prompts")
    prompts: dict[SoundPath, PromptText] = Field(
        default_factory=dict,
        description="texts spoken in the site's language into the prompts the switch lacks, by sound name; bizpbx has texts for its default sounds",
    )
    main_number: MainNumber = MainNumber()
    trunks: dict[Name, Trunk] = Field(min_length=1)
    numbers: dict[E164, Number] = Field(default_factory=dict)
    organizations: dict[Digits, Organization] = Field(default_factory=dict)
    tariffs: Tariffs = Tariffs()
    freeswitch: FreeSwitch = FreeSwitch()
    esl: Esl = Esl()
    controller: ControllerSettings = ControllerSettings()
    recordings: Recordings = Recordings()
    cluster: Cluster | None = Field(None, description="a SIP proxy in front of several FreeSWITCH nodes; none: one server")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file, which arrives as init arguments.
        return (env_settings, init_settings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @field_validator("numbers", mode="before")
    @classmethod
    def _one_entry_per_number(cls, value: Any) -> Any:
        if isinstance(value, dict):
            seen: dict[str, Any] = {}
            for key in value:
                try:
                    normal = to_e164(key)
                except ValueError:
                    continue  # reported by the key's own validation
                if normal in seen:
                    raise ValueError(f"{key!r} and {seen[normal]!r} are the same number {normal}")
                seen[normal] = key
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def numbers_of(self, org_id: str) -> dict[str, Number]:
        return {e164: n for e164, n in self.numbers.items() if n.organization == org_id}

    def trunk_for(self, org: Organization) -> tuple[str, Trunk]:
        name = org.trunk or next(iter(self.trunks))
        return name, self.trunks[name]

    def trunk_delivering(self, number: str) -> str | None:
        return next((name for name, trunk in self.trunks.items() if number in trunk.numbers), None)
