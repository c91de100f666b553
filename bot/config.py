"""Settings, from ``LIENLAC_…`` environment variables (``__`` nests) and an optional TOML file.

Precedence: environment over the ``--config`` file over defaults. A wrong or contradictory
setting raises :class:`ConfigError` with one sentence saying what to fix; ``run_bot.py``
prints that sentence and exits, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from bot.domain.calendar import DEFAULT_TIMEZONE
from bot.domain.threads import DEFAULT_URGENT

ENV_PREFIX = "LIENLAC_"


class ConfigError(Exception):
    """A setting is wrong. ``str(err)`` is one sentence for the operator."""


class DatabaseSettings(BaseModel):
    url: str = Field(
        default="",
        description=(
            "SQLAlchemy async URL: `sqlite+aiosqlite:///…` or "
            "`postgresql+asyncpg://user@host:5432/db`; empty = the SQLite file "
            "`lienlac.sqlite3` in the data directory"
        ),
    )
    echo: bool = Field(default=False, description="log every SQL statement (debugging only)")

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
    token: SecretStr | None = Field(
        default=None,
        description="the Telegram bot token from BotFather (see docs/telegram.md)",
    )
    api_base_url: str = Field(
        default="https://api.telegram.org", description="the Telegram Bot API server"
    )
    username: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$",
        description="the bot's username without @: another school's bot links to it (t.me/…)",
    )

    @field_validator("api_base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class SmsGatewaySettings(BaseModel):
    """An SMS brandname gateway (``LIENLAC_OTP__PROVIDER=sms``): eSMS.vn or SpeedSMS style.

    eSMS: ``api_key`` + ``secret_key`` + ``brandname``; SpeedSMS: ``api_key`` (the access
    token) + ``brandname``. ``url`` is the gateway's base URL (default per ``style``).
    """

    style: Literal["esms", "speedsms"] = Field(
        default="esms", description="the gateway: eSMS.vn or SpeedSMS brandname SMS"
    )
    url: str = Field(
        default="",
        description="the gateway's base URL; empty: https://rest.esms.vn or https://api.speedsms.vn",
    )
    api_key: SecretStr | None = Field(
        default=None, description="eSMS API key, or the SpeedSMS access token"
    )
    secret_key: SecretStr | None = Field(default=None, description="eSMS secret key")
    brandname: str = Field(default="", description="the registered brandname the SMS comes from")
    sms_type: str = Field(
        default="",
        description='empty: "2" (eSMS CSKH brandname) or "3" (SpeedSMS brandname)',
    )
    sandbox: bool = Field(
        default=False, description="eSMS Sandbox=1: accepted but neither sent nor charged"
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="the longest one request to the gateway may take"
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _http_url(value) if value else value

    @property
    def base_url(self) -> str:
        if self.url:
            return self.url
        return "https://rest.esms.vn" if self.style == "esms" else "https://api.speedsms.vn"

    @property
    def configured(self) -> bool:
        if self.api_key is None:
            return False
        return self.style == "speedsms" or self.secret_key is not None


class ZnsSettings(BaseModel):
    """Zalo ZNS/ZBS template messages (``LIENLAC_OTP__PROVIDER=zns``): the OTP goes to the
    parent's Zalo by phone number (``84…``). The OA access token comes from the OA token store
    when ``LIENLAC_ZALO_OA__*`` is set, else from ``access_token`` (a token you refresh
    yourself)."""

    url: str = Field(default="https://business.openapi.zalo.me", description="the ZNS API server")
    template_id: str = Field(
        default="",
        description="an approved Authentication ZNS/ZBS template with one parameter",
    )
    otp_param: str = Field(
        default="otp", description="the template parameter that receives the code"
    )
    access_token: SecretStr | None = Field(
        default=None,
        description=(
            "an OA access token you refresh yourself; not needed when LIENLAC_ZALO_OA__* is "
            "set (the OA token store's token is used)"
        ),
    )
    development_mode: bool = Field(
        default=False, description='"mode":"development": only OA admins receive'
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="the longest one request to ZNS may take"
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _http_url(value)


class OtpSettings(BaseModel):
    provider: Literal["console", "http_json", "sms", "zns"] = Field(
        default="console",
        description=(
            "how codes are sent: `console` (demo: printed in the chat), `http_json`, "
            "`sms` (brandname SMS) or `zns` (Zalo ZNS/ZBS template to `84…`); "
            "`zalo_zns` is accepted for `zns`"
        ),
    )

    @field_validator("provider", mode="before")
    @classmethod
    def _provider_alias(cls, value: object) -> object:
        # ARCHITECTURE.md's public contract names the ZNS provider "zalo_zns"
        return "zns" if value == "zalo_zns" else value

    url: str | None = Field(
        default=None,
        description=(
            'http_json: where to POST `{"phone": "0912…", "text": "… 6-digit code …"}`; '
            "any 2xx = accepted"
        ),
    )
    sms: SmsGatewaySettings = Field(
        default=SmsGatewaySettings(),
        description="the SMS brandname gateway (`LIENLAC_OTP__PROVIDER=sms`, or ZNS fallback)",
    )
    zns: ZnsSettings = Field(
        default=ZnsSettings(), description="Zalo ZNS/ZBS templates (`LIENLAC_OTP__PROVIDER=zns`)"
    )
    zns_fallback_sms: bool = Field(
        default=True,
        description=(
            "zns: send the code by SMS (if the SMS keys are set) when Zalo cannot deliver it, "
            "e.g. no Zalo or a night-time block (`-133`)"
        ),
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="http_json: the longest one request may take"
    )
    ttl_seconds: int = Field(default=300, ge=30, le=3600, description="a code's life")
    max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="wrong codes one chat may type for one pupil before a lock",
    )
    lockout_seconds: int = Field(default=900, ge=0, description="the length of that lock")
    resend_cooldown_seconds: int = Field(
        default=60, ge=0, description="seconds between two codes to one phone, from any chat"
    )
    # The OTP guard (bot/domain/otp.py has the policy in words). Per phone on file:
    max_sends_per_hour: int = Field(
        default=3, ge=1, description="codes to one phone from one chat, an hour"
    )
    max_sends_per_day: int = Field(
        default=10, ge=1, description="codes to one phone from all chats, a day"
    )
    phones_per_chat_per_day: int = Field(
        default=3, ge=1, description="different phones one chat may send codes to, a day"
    )
    school_sends_per_day: int = Field(
        default=500, ge=1, description="the school's texts a day (the school's SMS bill)"
    )
    school_alert_ratio: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description=(
            "warn from this share of the school's daily texts: a WARNING in the log, "
            "an ALERT in `run_bot.py stats` and `/metrics`"
        ),
    )
    wrong_codes_per_student_per_day: int = Field(
        default=20,
        ge=1,
        description="wrong codes for one pupil from all chats together, a day (see SECURITY.md)",
    )
    code_lookups_per_hour: int = Field(
        default=10, ge=1, description="student codes one chat may try an hour (stops enumeration)"
    )
    unknown_codes_per_hour: int = Field(
        default=5, ge=1, description="unknown student codes one chat may try an hour"
    )
    unknown_codes_per_school_per_day: int = Field(
        default=200,
        ge=1,
        description="unknown student codes per school a day, all chats; then one per chat an hour",
    )

    @model_validator(mode="after")
    def _provider_needs_url(self) -> OtpSettings:
        if self.provider == "http_json" and not self.url:
            raise ValueError("LIENLAC_OTP__URL must be set when LIENLAC_OTP__PROVIDER is http_json")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("LIENLAC_OTP__URL must be an http:// or https:// URL")
        if self.provider == "sms" and not self.sms.configured:
            raise ValueError(
                "LIENLAC_OTP__SMS__API_KEY (and LIENLAC_OTP__SMS__SECRET_KEY for eSMS) must be "
                "set when LIENLAC_OTP__PROVIDER is sms"
            )
        if self.provider == "zns" and not self.zns.template_id:
            raise ValueError(
                "LIENLAC_OTP__ZNS__TEMPLATE_ID must be set when LIENLAC_OTP__PROVIDER is zns"
            )
        return self


class ZaloBotSettings(BaseModel):
    """A Zalo Bot Platform bot (``LIENLAC_ZALO_BOT__TOKEN``). Long polling by default; a
    webhook on the process's one webhook server when ``LIENLAC_WEBHOOK__PUBLIC_URL`` is set."""

    token: SecretStr | None = Field(
        default=None,
        description="the Zalo bot token (`<number>:<secret>`) from Zalo Bot Manager",
    )
    api_base_url: str = Field(
        default="https://bot-api.zaloplatforms.com",
        description="the Zalo Bot API host (older: https://bot-api.zapps.me)",
    )
    webhook_public_url: str | None = Field(
        default=None,
        description="deprecated (one release): this bot's own public base; use "
        "LIENLAC_WEBHOOK__PUBLIC_URL",
    )
    webhook_listen: str | None = Field(
        default=None,
        description="deprecated (one release): an extra address for the one webhook server; "
        "use LIENLAC_WEBHOOK__LISTEN",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="8-256 characters; empty: derived from the installation secret",
    )
    poll_timeout_seconds: int = Field(
        default=30, ge=1, le=60, description="long polling (`getUpdates`): seconds per request"
    )
    link: str | None = Field(
        default=None,
        pattern=r"^https://\S+$",
        description="the bot's public link (https://zalo.me/…): another school's bot links to it",
    )

    @field_validator("api_base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("webhook_secret")
    @classmethod
    def _secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 8 <= len(value.get_secret_value()) <= 256:
            raise ValueError("must be 8-256 characters (Zalo's secret_token rule)")
        return value


class ZaloOaSettings(BaseModel):
    """A Zalo Official Account (OA Open API v3). The refresh token given here is used once, at
    the first start; after that the rotated tokens live in the database (table ``oa_token``).

    The webhook signature is uncertain in Zalo's documentation (see docs/channels.md), hence
    ``signature_key``, ``signature_first`` and ``verify_signature``.
    """

    app_id: str = Field(
        default="", description="the App ID of the developers.zalo.me app linked to the OA"
    )
    app_secret: SecretStr | None = Field(default=None, description="the app's App secret")
    oa_secret: SecretStr | None = Field(
        default=None, description='the "OA Secret Key": signs webhooks'
    )
    oa_id: str = Field(default="", description='needed only with signature_first = "oa_id"')
    refresh_token: SecretStr | None = Field(
        default=None,
        description=(
            "used once, at the first start (or to replace a stored pair); then the rotated "
            "tokens live in the database (table `oa_token`)"
        ),
    )
    api_base_url: str = Field(default="https://openapi.zalo.me", description="the OA API server")
    oauth_base_url: str = Field(
        default="https://oauth.zaloapp.com", description="the Zalo OAuth server"
    )
    webhook_listen: str | None = Field(
        default=None,
        description="deprecated (one release): an extra address for the one webhook server "
        "(POST /zalo-oa/<school> is on LIENLAC_WEBHOOK__LISTEN)",
    )
    verify_signature: bool = Field(
        default=True,
        description=(
            "check `X-ZEvent-Signature` at all (turn off only while debugging a formula mismatch)"
        ),
    )
    signature_key: Literal["oa_secret", "app_secret"] = Field(
        default="oa_secret",
        description="which key signs webhooks: the OA Secret Key or the app secret",
    )
    signature_first: Literal["app_id", "oa_id"] = Field(
        default="app_id",
        description="the first term of `sha256(first + body + timestamp + key)`",
    )
    refresh_margin_seconds: int = Field(
        default=5 * 3600,
        ge=60,
        description="refresh the access token this long before its 25 h expiry (~20 h in)",
    )
    notification_fallback: Literal["none", "sms", "zns"] = Field(
        default="none",
        description=(
            "notifications outside the 7-day messaging window: `sms` (the SMS keys) or "
            "`zns` (a template); `none`: the message fails with the reason"
        ),
    )
    zns_notice_template_id: str = Field(
        default="", description='zns fallback: a template with one "content" parameter'
    )

    @field_validator("api_base_url", "oauth_base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _http_url(value)

    @property
    def enabled(self) -> bool:
        return bool(self.app_id)

    @model_validator(mode="after")
    def _complete(self) -> ZaloOaSettings:
        if not self.app_id:
            return self
        if self.app_secret is None:
            raise ValueError("LIENLAC_ZALO_OA__APP_SECRET must be set with LIENLAC_ZALO_OA__APP_ID")
        if self.verify_signature and self.signature_key == "oa_secret" and self.oa_secret is None:
            raise ValueError(
                "LIENLAC_ZALO_OA__OA_SECRET must be set to check webhook signatures "
                "(or set LIENLAC_ZALO_OA__SIGNATURE_KEY=app_secret)"
            )
        if self.signature_first == "oa_id" and not self.oa_id:
            raise ValueError(
                "LIENLAC_ZALO_OA__OA_ID must be set with LIENLAC_ZALO_OA__SIGNATURE_FIRST=oa_id"
            )
        if self.notification_fallback == "zns" and not self.zns_notice_template_id:
            raise ValueError(
                "LIENLAC_ZALO_OA__ZNS_NOTICE_TEMPLATE_ID must be set with "
                "LIENLAC_ZALO_OA__NOTIFICATION_FALLBACK=zns"
            )
        return self


class PaymentSettings(BaseModel):
    """Where parents pay the school: shown under each unpaid fee as bank details and as a
    VietQR code (NAPAS) carrying the amount and a memo that identifies the pupil and the fee.
    Leave ``account`` empty to show fees without payment details."""

    model_config = {"extra": "forbid"}

    bank_name: str = Field(default="", max_length=60, description='e.g. "Vietcombank"')
    bank_bin: str = Field(
        default="",
        pattern=r"^([0-9]{6})?$",
        description="the bank's 6-digit NAPAS BIN (Vietcombank 970436, BIDV 970418, ...)",
    )
    account: str = Field(
        default="",
        pattern=r"^([0-9A-Za-z]{1,19})?$",
        description="the school's account number (empty: no payment details shown)",
    )
    account_name: str = Field(
        default="", max_length=80, description='the holder as the bank shows it, "TRUONG THCS …"'
    )
    memo_prefix: str = Field(
        default="HP",
        pattern=r"^[A-Z0-9]{1,6}$",
        description="starts every transfer memo (`HP 7K2QX9MA`); `fees reconcile` looks for it",
    )

    @model_validator(mode="after")
    def _complete(self) -> PaymentSettings:
        if self.account and not (self.bank_bin and self.bank_name and self.account_name):
            raise ValueError("payment.account needs bank_bin, bank_name and account_name too")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.account)


class AbsenceSettings(BaseModel):
    """Leave requests (xin nghỉ học): the school's rules. Times are the school's local time."""

    max_days: int = Field(default=5, ge=1, le=30, description="school days in one request")
    past_days: int = Field(
        default=0, ge=0, le=14, description="a request may start this many days back"
    )
    same_day_cutoff: dt.time = Field(
        default=dt.time(7, 0), description="after this time, no request for today"
    )
    remind_after_hours: float = Field(
        default=4.0,
        gt=0,
        le=72,
        description="remind the homeroom teacher once after a request waited this long",
    )
    decision_cutoff: dt.time = Field(
        default=dt.time(17, 0),
        description="at this time on the first day off, a pending request is escalated or expires",
    )
    deputy_code: str = Field(
        default="",
        description="staff code of the deputy (hiệu phó) who gets escalations; empty: expire",
    )
    deputy_hours: float = Field(
        default=24.0,
        gt=0,
        le=168,
        description="the deputy's window; then the request expires",
    )


class MetricsSettings(BaseModel):
    listen: str | None = Field(
        default=None,
        description=(
            "`host:port`, e.g. `127.0.0.1:9100` (keep it private): `/healthz` and `/metrics` "
            "(Prometheus: outbox queue, leave requests, one-time codes)"
        ),
    )
    token: SecretStr | None = Field(
        default=None,
        description=(
            "bearer token for `/metrics`; required on the public webhook server, which does "
            "not serve `/metrics` at all without one"
        ),
    )


class ThrottleSettings(BaseModel):
    """Per chat user: ``burst`` messages at once, then ``per_second`` (0 burst: off)."""

    burst: int = Field(
        default=8,
        ge=0,
        description=(
            "flood control per chat user: messages at once (then one polite line, then "
            "silence); 0 turns it off"
        ),
    )
    per_second: float = Field(
        default=1.0, gt=0, description="then messages per second (the bucket's refill)"
    )


class OutboxSettings(BaseModel):
    """The relay that sends messages to people other than the one who wrote."""

    lease_seconds: float = Field(
        default=60.0,
        ge=4.0,
        le=600.0,
        description=(
            "how long a relay worker holds a bot and the messages it claimed; after a crash "
            "they are taken over after this (a message that was inside the platform call goes "
            "out once more, labelled as a possible repeat)"
        ),
    )


class WebhookSettings(BaseModel):
    """The process's one webhook server: ``POST /telegram/{school}``, ``/zalo-bot/{school}``,
    ``/zalo-oa/{school}``, ``GET /healthz`` and ``/metrics``."""

    listen: str = Field(
        default="127.0.0.1:8080",
        description="host:port of the one webhook server (all platforms, /healthz, /metrics)",
    )
    public_url: str | None = Field(
        default=None,
        description="the public https base the platforms post to; when set, the bots register "
        "their webhooks themselves and stop polling",
    )


class AdminSettings(BaseModel):
    """The school office's web page under ``/admin`` on the webhook server (issue 18). A
    linked teacher asks the bot for a sign-in link with ``/web``."""

    enabled: bool = Field(default=True, description="serve the office's web page under /admin")
    public_url: str | None = Field(
        default=None,
        description="the https base the sign-in links point to (…/admin is added); else "
        "`webhook.public_url`. Without either, `/web` says the page is not set up",
    )
    operators: list[str] = Field(
        default_factory=list,
        description="operators who see every school, as `school:staff code` (JSON list, e.g. "
        '`["demo:GV010"]`)',
    )
    session_minutes: int = Field(
        default=30, ge=2, le=24 * 60, description="a web session ends after this long idle"
    )


class DigestSettings(BaseModel):
    """Digests and notifications (issue 5). Quiet hours are the school's local time."""

    enabled: bool = Field(
        default=True, description="run the digest scheduler inside the bot process"
    )
    quiet_start: dt.time = Field(
        default=dt.time(21, 0),
        description="start of the school's quiet hours (local time): no digest time inside them",
    )
    quiet_end: dt.time = Field(default=dt.time(6, 30), description="end of the quiet hours")
    grace_minutes: int = Field(
        default=120,
        ge=0,
        le=24 * 60,
        description="a digest missed by downtime is still made up to this late",
    )
    tick_seconds: int = Field(default=60, ge=1, le=3600, description="the scheduler's tick")
    sms_max_segments: int = Field(
        default=2,
        ge=1,
        le=6,
        description=(
            "the SMS digest of a guardian marked SMS only: at most this many SMS segments "
            "(160 unaccented characters in one, 153 each when joined); what does not fit is "
            'counted in a last "+N more" line'
        ),
    )
    school_staff: list[str] = Field(
        default_factory=list,
        description=(
            'staff codes (JSON list, e.g. `["GV005"]`) who may send a notice to the whole '
            "school from the chat"
        ),
    )


class MessagesSettings(BaseModel):
    """Private messages from parents to teachers, relayed by the bot (issue 17)."""

    office_start: dt.time = Field(
        default=dt.time(7, 0),
        description="school hours begin (local time): teachers' default office hours",
    )
    office_end: dt.time = Field(default=dt.time(17, 0), description="school hours end")
    urgent_words: list[str] = Field(
        default_factory=lambda: list(DEFAULT_URGENT),
        description="a message with one of these words reaches the teacher at once (JSON list)",
    )
    per_hour: int = Field(
        default=10, ge=1, le=1000, description="messages one parent may send per thread per hour"
    )
    retention_days: int = Field(
        default=365, ge=1, description="relayed messages are deleted after this many days"
    )
    subject_teachers: bool = Field(
        default=False, description="parents may also write to the class's subject teachers"
    )
    school_days_only: bool = Field(
        default=True,
        description="messages on Sundays and public holidays wait for the next school day",
    )

    @model_validator(mode="after")
    def _hours(self) -> MessagesSettings:
        if self.office_start >= self.office_end:
            raise ValueError("messages.office_start must be before messages.office_end")
        return self


class BackendSettings(BaseModel):
    """Which school system this school's data comes from (one school; self-contained so it
    can later live under each ``[[schools]]`` entry)."""

    kind: str = Field(
        default="local",
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description=(
            "where the school's data comes from: `local` (our tables), `rest_json`, "
            "`oneroster`, or an installed backend package (a manifest name; see docs/backends.md)"
        ),
    )
    mapping: Path | None = Field(
        default=None,
        description="the backend's config file (the `rest_json` mapping, the `oneroster` settings)",
    )
    timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="the longest one read from the school system may take, retries included",
    )
    cache_max_age_seconds: int = Field(
        default=6 * 3600,
        ge=0,
        description=(
            "when the school system is down, answers up to this old are shown with their age"
        ),
    )
    cache_fresh_seconds: float = Field(
        default=30.0, ge=0, description="answers younger than this are reused without asking"
    )

    @model_validator(mode="after")
    def _mapping_for_remote(self) -> BackendSettings:
        if self.kind != "local" and self.mapping is None:
            raise ValueError(
                f"LIENLAC_BACKEND__MAPPING must point at the {self.kind} config file "
                "when LIENLAC_BACKEND__KIND is not local"
            )
        return self


_Block = TypeVar("_Block", bound=BaseModel)

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

    id: str = Field(
        pattern=SCHOOL_ID_PATTERN,
        description="the school's id (as in `run_bot.py import … --school ID`)",
    )
    timezone: str | None = Field(default=None, description="else `school_timezone`")
    phone: str | None = Field(default=None, max_length=40, description="else `school_phone`")
    backend: BackendSettings | None = Field(default=None, description="the school system")
    telegram: TelegramSettings | None = Field(default=None, description="the school's own bot")
    absence: AbsenceSettings | None = Field(default=None, description="leave request rules")
    quiet_start: dt.time | None = Field(default=None, description="else `digest.quiet_start`")
    quiet_end: dt.time | None = Field(default=None, description="else `digest.quiet_end`")
    school_staff: list[str] | None = Field(default=None, description="else `digest.school_staff`")
    # Zalo and OTP delivery per school (keys not given come from the top-level blocks)
    zalo_bot: ZaloBotSettings | None = Field(default=None, description="the school's Zalo bot")
    zalo_oa: ZaloOaSettings | None = Field(
        default=None, description="the school's Official Account"
    )
    otp: OtpSettings | None = Field(default=None, description="how the school's codes are sent")
    payment: PaymentSettings | None = Field(
        default=None, description="where parents pay fees, else `payment`"
    )
    messages: MessagesSettings | None = Field(
        default=None, description="parents' private messages to teachers, else `messages`"
    )

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
    phone: str
    absence: AbsenceSettings
    quiet_start: dt.time
    quiet_end: dt.time
    school_staff: tuple[str, ...]
    zalo_bot: ZaloBotSettings = field(default_factory=ZaloBotSettings)
    zalo_oa: ZaloOaSettings = field(default_factory=ZaloOaSettings)
    otp: OtpSettings = field(default_factory=OtpSettings)
    payment: PaymentSettings = field(default_factory=PaymentSettings)
    messages: MessagesSettings = field(default_factory=MessagesSettings)


# Settings a school's own Zalo/OTP block takes from the top-level block unless it sets them:
# where the platforms are, and the process-wide webhook server and polling (one per process).
_ZALO_BOT_SHARED = ("api_base_url", "webhook_public_url", "webhook_listen", "poll_timeout_seconds")
_ZALO_OA_SHARED = ("api_base_url", "oauth_base_url", "webhook_listen")
_OTP_SHARED = (
    "timeout_seconds",
    "ttl_seconds",
    "max_attempts",
    "lockout_seconds",
    "resend_cooldown_seconds",
    "max_sends_per_hour",
    "code_lookups_per_hour",
)


def _inherit(top: _Block, own: _Block | None, shared: tuple[str, ...]) -> _Block:
    """The school's own block (else the top-level one), with the ``shared`` keys it leaves
    unset taken from the top-level block."""
    if own is None:
        return top
    update = {name: getattr(top, name) for name in shared if name not in own.model_fields_set}
    return own.model_copy(update=update) if update else own


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    school_id: str = Field(
        default="demo", pattern=SCHOOL_ID_PATTERN, description="the school this process serves"
    )
    school_timezone: str = Field(
        default=DEFAULT_TIMEZONE, description='for "today", "tomorrow" and lock-out times'
    )
    school_phone: str = Field(
        default="",
        max_length=40,
        description="the school office's phone, for what the bot cannot do (a message for a "
        "teacher); shown to parents",
    )
    data_dir: Path = Field(default=Path("data"), description="where the SQLite file lives")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO",
        description=(
            "`WARNING` in the terminal chat; logs never contain OTPs, phones, student codes, "
            "scores or tokens"
        ),
    )
    seed_demo: bool = Field(
        default=True, description="seed the demo school on first start if the database has none"
    )
    database: DatabaseSettings = DatabaseSettings()
    telegram: TelegramSettings = TelegramSettings()
    otp: OtpSettings = OtpSettings()
    webhook: WebhookSettings = WebhookSettings()
    admin: AdminSettings = AdminSettings()
    metrics: MetricsSettings = MetricsSettings()
    throttle: ThrottleSettings = ThrottleSettings()
    outbox: OutboxSettings = OutboxSettings()
    absence: AbsenceSettings = AbsenceSettings()
    digest: DigestSettings = DigestSettings()
    backend: BackendSettings = BackendSettings()
    payment: PaymentSettings = PaymentSettings()
    messages: MessagesSettings = MessagesSettings()
    # Several schools in one process (TOML [[schools]]); empty = the one school above.
    schools: list[SchoolSettings] = Field(default_factory=list)
    zalo_bot: ZaloBotSettings = ZaloBotSettings()
    zalo_oa: ZaloOaSettings = ZaloOaSettings()

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
        if self.schools:
            configs = self.school_configs()
            bots = [
                c.zalo_bot.token.get_secret_value() for c in configs if c.zalo_bot.token is not None
            ]
            if len(set(bots)) != len(bots):
                raise ValueError(
                    "LIENLAC_SCHOOLS gives two schools the same Zalo bot token: "
                    "one Zalo bot per school"
                )
            apps = [c.zalo_oa.app_id for c in configs if c.zalo_oa.enabled]
            if len(set(apps)) != len(apps):
                raise ValueError(
                    "LIENLAC_SCHOOLS gives two schools the same Zalo OA app id: "
                    "one Official Account per school"
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
                phone=e.phone or self.school_phone,
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
                zalo_bot=_inherit(self.zalo_bot, e.zalo_bot, _ZALO_BOT_SHARED),
                zalo_oa=_inherit(self.zalo_oa, e.zalo_oa, _ZALO_OA_SHARED),
                otp=self._otp_of(e),
                payment=e.payment or self.payment,
                messages=e.messages or self.messages,
            )
            for e in entries
        ]

    def _otp_of(self, entry: SchoolSettings) -> OtpSettings:
        otp = _inherit(self.otp, entry.otp, _OTP_SHARED)
        if otp is self.otp or "url" in otp.zns.model_fields_set:
            return otp
        # one ZNS API server for every school unless a school names its own
        zns = otp.zns.model_copy(update={"url": self.otp.zns.url})
        return otp.model_copy(update={"zns": zns})

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
    except SettingsError as err:  # a value pydantic-settings cannot even decode (not JSON)
        raise ConfigError(_undecodable(str(err))) from err


def _undecodable(message: str) -> str:
    """'error parsing value for field "digest" from source "EnvSettingsSource"' -> one line
    naming the variables of that block and the form a list takes."""
    match = re.search(r'field "([a-z_]+)"', message)
    block = match.group(1).upper() if match else ""
    where = f"One of the LIENLAC_{block}__… settings" if block else "A setting"
    return (
        f"{where} could not be read: a list is written as JSON, e.g. "
        f'LIENLAC_DIGEST__SCHOOL_STAFF=\'["GV005", "GV006"]\' (in a TOML file: '
        'school_staff = ["GV005"]).'
    )
