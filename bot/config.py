"""Settings from the environment and `.env`, validated once at start-up."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import date, time, timedelta
from functools import cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Self, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict
from yarl import URL

from storage.address_limits import AddressLimits, Limit
from storage.files import private_dir
from storage.models import TicketKind
from storage.prune import Retention
from storage.ticket_rules import parse_due_days, parse_holidays

SUPPORTED_LOCALES = ("vi", "en")
_DB_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
# Days off that are certain for 2026–2027: 1/1, 30/4, 1/5, 2/9; the first three days of Tết and
# Hùng Kings' day (lunar dates, checked against two Vietnamese lunar calendars); and the days off
# in lieu the Labour Code gives when a holiday falls on a weekend (27/4/2026, 3/5/2027). The rest of
# the Tết break and the day next to 2/9 are set by the Prime Minister each year: admins add them.
DEFAULT_HOLIDAYS = (
    "2026-01-01,2026-02-17,2026-02-18,2026-02-19,2026-04-26,2026-04-27,2026-04-30,2026-05-01,2026-09-02,"
    "2027-01-01,2027-02-06,2027-02-07,2027-02-08,2027-04-16,2027-04-30,2027-05-01,2027-05-03,2027-09-02"
)


def _url(schemes: tuple[str, ...], problem: str) -> Callable[[object], URL]:
    """A parser of addresses starting with one of `schemes` and naming a host; ValueError(`problem`)."""

    def parse(value: object) -> URL:
        text = str(value)
        try:
            url = URL(text) if text.startswith(schemes) else None
        except ValueError:
            url = None
        if url is None or not url.host:
            raise ValueError(problem)
        return url

    return parse


def _or_none(parse: Callable[[object], URL]) -> Callable[[object], URL | None]:
    """`parse`, with an empty value meaning none (a setting left empty)."""
    return lambda value: None if value is None or value == "" else parse(value)


_http_url = _url(("http://", "https://"), "must be an http:// or https:// URL")
_https_link = _url(("https://",), "must be an https:// link, e.g. https://zalo.me/<the Official Account's or bot's id>")
# Written back as the text it was read from (a bare host gains no "/"), an unset one as empty.
_AS_TEXT = PlainSerializer(lambda url: "" if url is None else str(url), return_type=str)
# Addresses are parsed once, here: the code uses them as `yarl.URL`s (what aiohttp takes).
HttpUrl = Annotated[URL, PlainValidator(_http_url), _AS_TEXT]
OptionalHttpUrl = Annotated[URL | None, PlainValidator(_or_none(_http_url)), _AS_TEXT]
OptionalHttpsLink = Annotated[URL | None, PlainValidator(_or_none(_https_link)), _AS_TEXT]


class QuietTimes(NamedTuple):
    """Local hours in which bulk notices wait (QUIET_HOURS); `start` after `end` wraps past midnight."""

    start: time
    end: time


def parse_quiet_hours(value: str) -> QuietTimes | None:
    """QUIET_HOURS "HH:MM-HH:MM" as two local times, or None when empty; ValueError says what is wrong."""
    if not value.strip():
        return None
    if not re.fullmatch(r"\s*\d{2}:\d{2}\s*-\s*\d{2}:\d{2}\s*", value):
        raise ValueError("must look like 21:00-06:30 (local time), or be empty for none")
    first, _, second = value.partition("-")
    try:
        return QuietTimes(time.fromisoformat(first.strip()), time.fromisoformat(second.strip()))
    except ValueError:
        raise ValueError("has an impossible time; use HH:MM-HH:MM") from None


def parse_local_time(value: str) -> time:
    """A local time "HH:MM" (PRUNE_AT); ValueError says what is wrong."""
    try:
        if not re.fullmatch(r"\d{2}:\d{2}", value.strip()):
            raise ValueError
        return time.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be a local time HH:MM, e.g. 03:30") from None


class ConfigError(Exception):
    """A configuration value is wrong; the message names the variable."""


class Settings(BaseSettings):
    """Every runtime setting, named as its environment variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    database_url: str = "sqlite+aiosqlite:///data/bot.db"
    data_dir: Path = Path("data")
    secret_key: SecretStr = SecretStr("")
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=1, le=65535)
    public_base_url: OptionalHttpUrl = None
    trusted_proxies: str = "127.0.0.1/8,::1"
    telegram_bot_token: SecretStr = SecretStr("")
    telegram_base_url: HttpUrl = URL("https://api.telegram.org/bot")
    telegram_base_file_url: OptionalHttpUrl = None
    telegram_webhook_url: OptionalHttpUrl = None
    telegram_webhook_secret: SecretStr = SecretStr("")
    telegram_poll_timeout: int = Field(30, ge=0, le=600)
    default_locale: str = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    metrics_token: SecretStr = SecretStr("")
    max_concurrent_updates: int = Field(64, ge=1, le=10_000)
    flood_burst: int = Field(20, ge=0, le=10_000)
    flood_window_seconds: float = Field(10.0, gt=0, le=3600)
    conversation_ttl_hours: int = Field(72, ge=1, le=24 * 365)
    ticket_due_days: str = ""
    holidays: str = DEFAULT_HOLIDAYS
    ticket_daily_limit: int = Field(5, ge=1, le=1000)
    media_max_bytes: int = Field(10_000_000, ge=1, le=2_000_000_000)
    telegram_rate_limit: float = Field(25.0, gt=0, le=1000)
    telegram_chat_rate: float = Field(1.0, gt=0, le=100)
    quiet_hours: QuietTimes | None = QuietTimes(time(21, 0), time(6, 30))
    campaign_grace_hours: float = Field(6.0, ge=0, le=24 * 30)
    admin_password: SecretStr = SecretStr("")
    staff_session_hours: float = Field(12.0, gt=0, le=24 * 30)
    # Time limits per statement on the staff connections (dashboard and public pages; background
    # reports): a query running longer is stopped and the page says so, instead of holding a connection.
    staff_query_seconds: float = Field(15.0, gt=0, le=3600)
    report_query_seconds: float = Field(300.0, gt=0, le=24 * 3600)
    # Dashboard sign-in throttling: failures counted per (account name, client address) and per address.
    login_window_minutes: float = Field(15.0, gt=0, le=24 * 60)
    login_slow_after: int = Field(3, ge=1, le=1000)
    login_delay_seconds: float = Field(1.0, ge=0, le=60)
    login_pair_limit: int = Field(10, ge=1, le=10_000)
    login_address_limit: int = Field(30, ge=1, le=100_000)
    login_alert_after: int = Field(10, ge=1, le=100_000)
    # Web chat identities (signed cookies) end after this many days unused; then limits per client
    # address, per hour and per (local) day, for what a script could repeat with a new identity each
    # time: new identities, reports (dialogue questions included), and votes (new answers to one poll,
    # supports of one question). See docs/security.md for why these numbers.
    webchat_identity_idle_days: int = Field(180, ge=1, le=3650)
    webchat_identities_per_hour: int = Field(60, ge=1, le=1_000_000)
    webchat_identities_per_day: int = Field(300, ge=1, le=1_000_000)
    webchat_reports_per_hour: int = Field(5, ge=1, le=1_000_000)
    webchat_reports_per_day: int = Field(20, ge=1, le=1_000_000)
    webchat_votes_per_hour: int = Field(5, ge=1, le=1_000_000)
    webchat_votes_per_day: int = Field(20, ge=1, le=1_000_000)
    # Report workbooks made in the dashboard are kept (private files under DATA_DIR/reports) this many days.
    report_files_days: int = Field(30, ge=1, le=3650)
    # Retention (storage/prune.py, nightly at PRUNE_AT local time): what is kept, and how many days.
    # The defaults keep the minimum the work needs, as Vietnam's personal data law asks (see README).
    retention_outbox_payload_days: int = Field(30, ge=1, le=36500)
    retention_faq_hourly_days: int = Field(90, ge=1, le=36500)
    retention_unanswered_days: int = Field(180, ge=1, le=36500)
    retention_quiz_rounds_days: int = Field(365, ge=1, le=36500)
    retention_audit_days: int = Field(1095, ge=1, le=36500)
    retention_media_days: int = Field(365, ge=1, le=36500)
    prune_at: time = time(3, 30)
    zalo_bot_token: SecretStr = SecretStr("")
    zalo_bot_base_url: HttpUrl = URL("https://bot-api.zaloplatforms.com/bot")
    zalo_bot_webhook_url: OptionalHttpUrl = None
    zalo_bot_webhook_secret: SecretStr = SecretStr("")
    zalo_oa_app_id: str = ""
    zalo_oa_app_secret: SecretStr = SecretStr("")
    zalo_oa_secret_key: SecretStr = SecretStr("")
    zalo_oa_access_token: SecretStr = SecretStr("")
    zalo_oa_refresh_token: SecretStr = SecretStr("")
    zalo_oa_api_base: HttpUrl = URL("https://openapi.zalo.me")
    zalo_oauth_base: HttpUrl = URL("https://oauth.zaloapp.com")
    zalo_oa_reply_window_hours: int = Field(168, ge=1, le=168)
    zalo_link: OptionalHttpsLink = None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(_DB_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(_DB_SCHEMES)}")
        return value

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known IANA time zone (e.g. Asia/Ho_Chi_Minh)") from None
        return value

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet_hours(cls, value: object) -> object:
        return parse_quiet_hours(value) if isinstance(value, str) else value

    @field_validator("prune_at", mode="before")
    @classmethod
    def _prune_at(cls, value: object) -> object:
        return parse_local_time(value) if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("trusted_proxies", "ticket_due_days", "holidays")
    @classmethod
    def _parses(cls, value: str, info: ValidationInfo) -> str:
        """Lists kept as text and read by a property (`trusted_networks`, `due_days`, `holiday_dates`):
        parsed now for their errors."""
        _LIST_PARSERS[str(info.field_name)](value)
        return value

    @model_validator(mode="after")
    def _channel_rules(self) -> Settings:
        """Each channel's rules over its own settings (`Kind.check` in `bot/channels/`), every broken
        one reported, as "VARIABLE: what is wrong"."""
        from bot.channels.registry import KINDS  # the channels import this module: read once it is loaded

        problems = [problem for kind in KINDS for problem in kind.check(self)]
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(type="value_error", loc=(), input=None, ctx={"error": problem})
                    for problem in problems
                ],
            )
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with `update`'s values converted to the fields' types, as values read from the
        environment are (a str becomes a SecretStr, "21:00-06:30" the quiet hours), without checking
        the whole again."""
        if update:
            update = {name: _as_field(name, value) for name, value in update.items()}
        return super().model_copy(update=update, deep=deep)

    def secrets(self) -> list[str]:
        """The values of every secret setting (each `SecretStr` field), for the logs to mask."""
        values = (getattr(self, name) for name in type(self).model_fields)
        return [value.get_secret_value() for value in values if isinstance(value, SecretStr)]

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The proxies whose X-Forwarded-For, -Proto and -Host are believed (TRUSTED_PROXIES)."""
        return parse_networks(self.trusted_proxies)

    @property
    def address_limits(self) -> AddressLimits:
        """The web chat's limits per client address (WEBCHAT_*_PER_HOUR / _PER_DAY)."""
        return AddressLimits(
            identities=Limit(self.webchat_identities_per_hour, self.webchat_identities_per_day),
            reports=Limit(self.webchat_reports_per_hour, self.webchat_reports_per_day),
            votes=Limit(self.webchat_votes_per_hour, self.webchat_votes_per_day),
        )

    @property
    def retention(self) -> Retention:
        """The retention periods (RETENTION_*), with the time zone and data folder the prune needs."""
        return Retention(
            outbox_payload=timedelta(days=self.retention_outbox_payload_days),
            faq_hourly=timedelta(days=self.retention_faq_hourly_days),
            unanswered=timedelta(days=self.retention_unanswered_days),
            quiz_rounds=timedelta(days=self.retention_quiz_rounds_days),
            audit=timedelta(days=self.retention_audit_days),
            media=timedelta(days=self.retention_media_days),
            report_files_days=self.report_files_days,
            tz=self.tz,
            data_dir=self.data_dir,
        )

    @property
    def due_days(self) -> dict[TicketKind, int]:
        """Working days to answer each kind of ticket (TICKET_DUE_DAYS over the defaults)."""
        return parse_due_days(self.ticket_due_days)

    @property
    def holiday_dates(self) -> frozenset[date]:
        """Public holidays that do not count as working days."""
        return parse_holidays(self.holidays)

    @property
    def telegram_enabled(self) -> bool:
        """Whether a Telegram token is configured."""
        return bool(self.telegram_bot_token)

    @property
    def zalo_bot_enabled(self) -> bool:
        """Whether a Zalo Bot API token is configured."""
        return bool(self.zalo_bot_token)

    @property
    def zalo_oa_enabled(self) -> bool:
        """Whether the Zalo Official Account is configured (app id, app secret, OA secret key, first refresh token)."""
        return bool(
            self.zalo_oa_app_id and self.zalo_oa_app_secret and self.zalo_oa_secret_key and self.zalo_oa_refresh_token
        )

    @property
    def public_https(self) -> bool:
        """Whether PUBLIC_BASE_URL is an https address (then cookies are Secure)."""
        return self.public_base_url is not None and self.public_base_url.scheme == "https"

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")


def _as_field(name: str, value: object) -> object:
    """`value` as the type of the setting `name` (parsed the way the setting's own validator parses it)."""
    if isinstance(value, str) and name in ("quiet_hours", "prune_at"):
        return parse_quiet_hours(value) if name == "quiet_hours" else parse_local_time(value)
    field = Settings.model_fields.get(name)
    if field is not None and (field.annotation is SecretStr or URL in (field.annotation, *get_args(field.annotation))):
        return _field_type(name).validate_python(value)
    return value


@cache
def _field_type(name: str) -> TypeAdapter[Any]:
    """The type of the setting `name` with its validators (its `Field`), to parse one value."""
    field = Settings.model_fields[name]
    return TypeAdapter(field.rebuild_annotation())


def parse_networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Addresses and networks separated by commas ("127.0.0.1/8, ::1, 10.0.0.5"); an address is a
    network of one. ValueError names the first entry that is neither."""
    networks = []
    for part in value.split(","):
        if part.strip():
            try:
                networks.append(ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"{part.strip()!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)"
                ) from None
    return tuple(networks)


# The settings kept as text whose parser the properties call (parsed at load too, for the errors).
_LIST_PARSERS: dict[str, Callable[[str], object]] = {
    "trusted_proxies": parse_networks,
    "ticket_due_days": parse_due_days,
    "holidays": parse_holidays,
}


def load_settings(**overrides: Any) -> Settings:
    """Read settings; raise ConfigError with one line per wrong variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(error) for error in exc.errors())) from None
    return settings


def ensure_secret_key(settings: Settings) -> str:
    """Return SECRET_KEY, or a random key kept in DATA_DIR/secret_key for the embedded setup."""
    if settings.secret_key:
        return settings.secret_key.get_secret_value()
    path = settings.data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    private_dir(settings.data_dir)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key)
    logging.getLogger(__name__).info("SECRET_KEY not set: generated one in %s", path)
    return key


def _describe(error: ErrorDetails) -> str:
    """One line naming the variable, the problem and the value given."""
    location = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not location:
        name, _, rest = message.partition(": ")
        return f"configuration error: {name}: {rest}" if rest else f"configuration error: {message}"
    name = location[0].upper()
    given = error.get("input")
    shown = "" if isinstance(given, dict) or given is None else f" (got {str(given)[:60]!r})"
    if "TOKEN" in name or "SECRET" in name:
        shown = ""
    return f"configuration error: {name}: {message}{shown}"
