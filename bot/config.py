"""Settings from the environment and `.env`, validated once at start-up."""

from __future__ import annotations

import logging
import re
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SUPPORTED_LOCALES = ("vi", "en")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_DB_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class ConfigError(Exception):
    """A configuration value is wrong; the message names the variable."""


class Settings(BaseSettings):
    """Every runtime setting, named as its environment variable."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = "sqlite+aiosqlite:///data/bot.db"
    data_dir: Path = Path("data")
    secret_key: str = ""
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=1, le=65535)
    public_base_url: str = ""
    telegram_bot_token: str = ""
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = ""
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""
    telegram_poll_timeout: int = Field(30, ge=0, le=600)
    default_locale: str = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    log_level: str = "INFO"
    max_concurrent_updates: int = Field(64, ge=1, le=10_000)
    conversation_ttl_hours: int = Field(72, ge=1, le=24 * 365)

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

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("telegram_base_url", "telegram_webhook_url", "public_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token(cls, value: str) -> str:
        if value and not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", value):
            raise ValueError("does not look like a bot token from @BotFather (digits:letters)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str) -> str:
        if value and not _WEBHOOK_SECRET.match(value):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_webhook_url and not self.telegram_webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET: required when TELEGRAM_WEBHOOK_URL is set")
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    @property
    def telegram_enabled(self) -> bool:
        """Whether a Telegram token is configured."""
        return bool(self.telegram_bot_token)

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise ConfigError with one line per wrong variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(error) for error in exc.errors())) from None
    return settings


def ensure_secret_key(settings: Settings) -> str:
    """Return SECRET_KEY, or a random key kept in DATA_DIR/secret_key for the embedded setup."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key)
    logging.getLogger(__name__).info("SECRET_KEY not set: generated one in %s", path)
    return key


def _describe(error: dict) -> str:
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
