"""Settings: defaults, and one clear line naming the variable for each bad value."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from bot.config import ConfigError, QuietTimes, load_settings
from bot.logs import MASK, hide_settings_secrets, install_request_ids

ROOT = Path(__file__).resolve().parent.parent


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(_env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///data/bot.db"
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 8080)
    assert settings.default_locale == "vi" and settings.timezone == "Asia/Ho_Chi_Minh"
    assert not settings.telegram_enabled


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("WEB_PORT", "abc", "WEB_PORT"),
        ("WEB_PORT", "70000", "WEB_PORT"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE"),
        ("TIMEZONE", "Mars/Olympus", "TIMEZONE"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("TELEGRAM_BOT_TOKEN", "not a token", "TELEGRAM_BOT_TOKEN"),
        ("TELEGRAM_BASE_URL", "ftp://x", "TELEGRAM_BASE_URL"),
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces", "TELEGRAM_WEBHOOK_SECRET"),
        ("TELEGRAM_WEBHOOK_URL", "https://bot.example/webhook/telegram", "TELEGRAM_WEBHOOK_SECRET"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    message = str(error.value)
    assert message.count("\n") == 0
    assert message.startswith(f"configuration error: {expected}: ")


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "secret value 123")
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    assert "secret value" not in str(error.value)


def test_times_are_parsed_once_and_secrets_kept_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUIET_HOURS", "22:15-05:45")
    monkeypatch.setenv("PRUNE_AT", "04:10")
    monkeypatch.setenv("ZALO_OA_ACCESS_TOKEN", "oa-access-value-1")
    settings = load_settings(_env_file=None)
    assert settings.quiet_hours == QuietTimes(time(22, 15), time(5, 45)) and settings.prune_at == time(4, 10)
    assert "oa-access-value-1" not in repr(settings) and "oa-access-value-1" in settings.secrets()
    copied = settings.model_copy(update={"quiet_hours": "", "metrics_token": "metrics-value-2"})
    assert copied.quiet_hours is None and copied.metrics_token.get_secret_value() == "metrics-value-2"
    install_request_ids()
    hide_settings_secrets(copied)  # no list of names: every SecretStr setting is masked
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("tokens %s and %s", "oa-access-value-1", "metrics-value-2")
    assert caplog.records[-1].getMessage() == f"tokens {MASK} and {MASK}"


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("WEB_PORT=9090\nDEFAULT_LOCALE=en\n")
    settings = load_settings()
    assert settings.web_port == 9090 and settings.default_locale == "en"


def test_cli_stops_with_one_line_and_exit_status_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "WEB_PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: WEB_PORT: Input should be a valid integer, unable to parse string as an integer (got 'eighty')"
    ]


def test_cli_help_lists_the_commands(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], cwd=tmp_path, env={"PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0
    for command in ("run", "db", "content"):
        assert f"    {command} " in result.stdout


def test_env_example_documents_every_setting() -> None:
    from bot.config import Settings

    example = (ROOT / ".env.example").read_text()
    documented = {line.split("=")[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    assert documented == {name.upper() for name in Settings.model_fields}
    lines = example.splitlines()
    for number, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            above = number - 1
            while above >= 0 and "=" in lines[above] and not lines[above].startswith("#"):
                above -= 1
            assert above >= 0 and lines[above].startswith("#"), f"{line} has no comment above its block"
