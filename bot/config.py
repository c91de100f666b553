"""Settings, from ``LIENLAC_…`` environment variables (``__`` nests) and an optional TOML file.

Precedence: environment over the ``--config`` file over defaults. A wrong or contradictory
setting raises :class:`ConfigError` with one sentence saying what to fix; ``run_bot.py``
prints that sentence and exits, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "LIENLAC_"


class ConfigError(Exception):
    """A setting is wrong. ``str(err)`` is one sentence for the operator."""


class DatabaseSettings(BaseModel):
    url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty = SQLite file in the data directory",
    )
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(LienLac uses async drivers)"
            )
        return value


class TelegramSettings(BaseModel):
    token: SecretStr | None = None
    api_base_url: str = "https://api.telegram.org"

    @field_validator("api_base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class OtpSettings(BaseModel):
    provider: Literal["console", "http_json"] = "console"
    url: str | None = None  # http_json: where to POST {"phone", "text"}
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    ttl_seconds: int = Field(default=300, ge=30, le=3600)
    max_attempts: int = Field(default=5, ge=1, le=20)
    lockout_seconds: int = Field(default=900, ge=0)
    resend_cooldown_seconds: int = Field(default=60, ge=0)
    max_sends_per_hour: int = Field(default=5, ge=1)  # per phone on file, all chats together
    code_lookups_per_hour: int = Field(default=10, ge=1)  # per chat: stops code enumeration

    @model_validator(mode="after")
    def _provider_needs_url(self) -> OtpSettings:
        if self.provider == "http_json" and not self.url:
            raise ValueError("LIENLAC_OTP__URL must be set when LIENLAC_OTP__PROVIDER is http_json")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("LIENLAC_OTP__URL must be an http:// or https:// URL")
        return self


class AbsenceSettings(BaseModel):
    """Leave requests (xin nghỉ học): the school's rules. Times are the school's local time."""

    max_days: int = Field(default=5, ge=1, le=30)  # school days in one request
    past_days: int = Field(default=0, ge=0, le=14)  # a request may start this many days back
    same_day_cutoff: dt.time = dt.time(7, 0)  # after this, no request for today
    remind_after_hours: float = Field(default=4.0, gt=0, le=72)  # remind the teacher once
    decision_cutoff: dt.time = dt.time(17, 0)  # on the first day off: escalate or expire
    deputy_code: str = ""  # staff code of the deputy (hiệu phó) who gets escalations
    deputy_hours: float = Field(default=24.0, gt=0, le=168)  # then the request expires


class WebhookSettings(BaseModel):
    listen: str = "127.0.0.1:8080"
    public_url: str | None = None


class DigestSettings(BaseModel):
    """Digests and notifications (issue 5). Quiet hours are the school's local time."""

    enabled: bool = True  # run the digest scheduler inside the bot process
    quiet_start: dt.time = dt.time(21, 0)
    quiet_end: dt.time = dt.time(6, 30)
    grace_minutes: int = Field(default=120, ge=0, le=24 * 60)  # catch up missed digests
    tick_seconds: int = Field(default=60, ge=1, le=3600)
    # staff codes (e.g. ["GV005"]) who may send a notice to the whole school from the chat
    school_staff: list[str] = Field(default_factory=list)


class BackendSettings(BaseModel):
    """Which school system this school's data comes from (one school; self-contained so it
    can later live under each ``[[schools]]`` entry)."""

    kind: str = Field(default="local", pattern=r"^[a-z][a-z0-9_]{0,39}$")  # a manifest name
    mapping: Path | None = None  # the backend's config file (rest_json mapping, oneroster)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)  # one read, retries included
    cache_max_age_seconds: int = Field(default=6 * 3600, ge=0)  # oldest answer shown when down
    cache_fresh_seconds: float = Field(default=30.0, ge=0)  # reuse an answer without asking

    @model_validator(mode="after")
    def _mapping_for_remote(self) -> BackendSettings:
        if self.kind != "local" and self.mapping is None:
            raise ValueError(
                f"LIENLAC_BACKEND__MAPPING must point at the {self.kind} config file "
                "when LIENLAC_BACKEND__KIND is not local"
            )
        return self


SCHOOL_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {value!r} (use e.g. Asia/Ho_Chi_Minh)") from err
    return value


class SchoolSettings(BaseModel):
    """One school served by this process: a ``[[schools]]`` entry of the TOML file. Keys not
    given fall back to the top-level settings (one province-wide default, per-school
    overrides). Each school's data stays under its own id."""

    model_config = {"extra": "forbid"}

    id: str = Field(pattern=SCHOOL_ID_PATTERN)
    timezone: str | None = None
    backend: BackendSettings | None = None
    telegram: TelegramSettings | None = None
    absence: AbsenceSettings | None = None
    quiet_start: dt.time | None = None
    quiet_end: dt.time | None = None
    school_staff: list[str] | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class SchoolConfig:
    """A school's effective settings (its own keys over the top-level ones)."""

    id: str
    timezone: str
    backend: BackendSettings
    telegram: TelegramSettings
    absence: AbsenceSettings
    quiet_start: dt.time
    quiet_end: dt.time
    school_staff: tuple[str, ...]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    school_id: str = Field(default="demo", pattern=SCHOOL_ID_PATTERN)
    school_timezone: str = "Asia/Ho_Chi_Minh"
    data_dir: Path = Path("data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    seed_demo: bool = True  # seed the demo school on first start if the database has none
    database: DatabaseSettings = DatabaseSettings()
    telegram: TelegramSettings = TelegramSettings()
    otp: OtpSettings = OtpSettings()
    webhook: WebhookSettings = WebhookSettings()
    absence: AbsenceSettings = AbsenceSettings()
    digest: DigestSettings = DigestSettings()
    backend: BackendSettings = BackendSettings()
    # Several schools in one process (TOML [[schools]]); empty = the one school above.
    schools: list[SchoolSettings] = Field(default_factory=list)

    @field_validator("school_timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    @model_validator(mode="after")
    def _schools_distinct(self) -> Settings:
        ids = [s.id for s in self.schools]
        if len(set(ids)) != len(ids):
            raise ValueError("LIENLAC_SCHOOLS lists the same school id twice")
        tokens = [
            s.telegram.token.get_secret_value()
            for s in self.schools
            if s.telegram is not None and s.telegram.token is not None
        ]
        if len(set(tokens)) != len(tokens):
            raise ValueError(
                "LIENLAC_SCHOOLS gives two schools the same Telegram token: one bot per school"
            )
        return self

    def school_configs(self) -> list[SchoolConfig]:
        """Every school this process serves, with its effective settings, in order. Without
        ``[[schools]]`` it is the one school of ``LIENLAC_SCHOOL_ID``."""
        entries = self.schools or [SchoolSettings(id=self.school_id)]
        return [
            SchoolConfig(
                id=e.id,
                timezone=e.timezone or self.school_timezone,
                backend=e.backend or self.backend,
                telegram=self._telegram_of(e),
                absence=e.absence or self.absence,
                quiet_start=e.quiet_start or self.digest.quiet_start,
                quiet_end=e.quiet_end or self.digest.quiet_end,
                school_staff=tuple(
                    c.strip().upper()
                    for c in (
                        e.school_staff if e.school_staff is not None else self.digest.school_staff
                    )
                ),
            )
            for e in entries
        ]

    def _telegram_of(self, entry: SchoolSettings) -> TelegramSettings:
        if entry.telegram is None:
            return self.telegram
        if "api_base_url" in entry.telegram.model_fields_set:
            return entry.telegram
        # one Bot API server for every school unless a school names its own
        return entry.telegram.model_copy(update={"api_base_url": self.telegram.api_base_url})

    def school_config(self, school_id: str) -> SchoolConfig:
        for config in self.school_configs():
            if config.id == school_id:
                return config
        raise KeyError(school_id)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'lienlac.sqlite3').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def _setting_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return ENV_PREFIX + "__".join(p.upper() for p in parts) if parts else "the configuration"


def _sentence(err: ValidationError) -> str:
    first: dict[str, Any] = dict(err.errors()[0])
    name = _setting_name(tuple(first.get("loc", ())))
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        return f"Unknown setting {name}: remove it or check its spelling."
    if message.startswith("LIENLAC_"):
        return f"{message}."
    return f"Setting {name} is wrong: {message}. Fix it in the environment or the config file."


def load_settings(config_file: Path | None = None) -> Settings:
    """Read the settings, or raise ``ConfigError`` with one sentence saying what to fix."""
    cls: type[Settings] = Settings
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"The config file {config_file} does not exist.")
        try:
            with config_file.open("rb") as fh:
                tomllib.load(fh)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"The config file {config_file} is not valid TOML: {err}.") from err
        cls = type(
            "FileSettings",
            (Settings,),
            {"model_config": {**Settings.model_config, "toml_file": str(config_file)}},
        )
    try:
        return cls()
    except ValidationError as err:
        raise ConfigError(_sentence(err)) from err
