"""Shared fixtures: a migrated database file per test, settings, the engine, an in-memory citizen."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings, load_settings
from bot.features import build_router
from content.areas import AreaDirectory, read_area_records
from content.i18n import Catalogs
from content.importer import import_database
from content.library import Library
from content.loader import load_content
from content.model import ContentBundle
from handlers.engine import Engine, utc_now
from handlers.turn import Services
from storage.db import SessionFactory, create_engine, session_factory
from storage.migrate import upgrade
from tests.channel import InMemoryChannel
from tests.fakes.telegram import FakeTelegram
from tests.fakes.zalo_bot import FakeZaloBot

pytest_plugins = ["tests.postgres", "tests.browser"]


def sqlite_url(path: Path) -> str:
    """The async SQLite URL of a file."""
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated with Alembic and holding the areas, built once per run."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(sqlite_url(path))
    asyncio.run(import_database(sqlite_url(path), now=utc_now()))
    return path


def on_postgres() -> bool:
    """TEST_DATABASE=postgresql: the whole suite runs on PostgreSQL (`make test-postgres`)."""
    return os.environ.get("TEST_DATABASE", "sqlite") == "postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, skip the tests that are about the SQLite file itself."""
    if on_postgres():
        skip = pytest.mark.skip(reason="about the SQLite file (TEST_DATABASE=postgresql)")
        for item in items:
            if "sqlite_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for one test: its own database (a copy of the migrated template holding the areas
    and content, SQLite by default, PostgreSQL with TEST_DATABASE=postgresql), its own data folder, no .env."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    if on_postgres():
        database_url = str(request.getfixturevalue("postgres_url"))
    else:
        db = tmp_path / "data" / "bot.db"
        shutil.copy(request.getfixturevalue("template_db"), db)
        database_url = sqlite_url(db)
    return load_settings(database_url=database_url, data_dir=tmp_path / "data", secret_key="test-secret-key",
                         login_delay_seconds=0, _env_file=None)  # tests/test_dashboard_access.py tests the delay


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[SessionFactory]:
    """Sessions on the test database."""
    engine = create_engine(settings.database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def bundle() -> ContentBundle:
    """The shipped content, validated once."""
    return load_content(area_codes=[record.code for record in read_area_records()])


@pytest.fixture
def services(bundle: ContentBundle) -> Services:
    """Areas, catalogs and content."""
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    return Services(areas=AreaDirectory.load(), catalogs=Catalogs(tz), library=Library(bundle), tz=tz)


@pytest.fixture
def engine(sessions: SessionFactory, services: Services) -> Engine:
    """The conversation engine on the test database."""
    return Engine(sessions, build_router(), services, conversation_ttl=timedelta(hours=72))


@pytest.fixture
def citizen(engine: Engine) -> InMemoryChannel:
    """A Vietnamese-speaking citizen on the in-memory channel."""
    return InMemoryChannel(engine)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    """A fake Telegram Bot API server on loopback."""
    async with FakeTelegram(max_poll_wait=0.5) as fake:
        yield fake


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloBot]:
    """A fake Zalo Bot API server on loopback (test_zalo_oa has its own `zalo`: the Zalo OA platform)."""
    async with FakeZaloBot(max_poll_wait=0.3) as fake:
        yield fake


def telegram_settings(settings: Settings, tg: FakeTelegram, **extra: object) -> Settings:
    """Settings pointing the bot at the fake Telegram server."""
    return settings.model_copy(
        update={
            "telegram_bot_token": tg.token,
            "telegram_base_url": tg.base_url,
            "telegram_base_file_url": tg.base_file_url,
            "telegram_poll_timeout": 1,
            **extra,
        }
    )


@pytest.fixture(params=["telegram", "webchat", "zalo_bot", "zalo_oa"])
async def driver(request: pytest.FixtureRequest, settings: Settings, tg, aiohttp_client):  # type: ignore[no-untyped-def]
    """A citizen on each channel in turn, talking to the whole running app."""
    from bot.app import create_app
    from tests.drivers import TelegramDriver, WebChatDriver, ZaloBotDriver, ZaloOADriver

    if request.param == "zalo_bot":
        return await ZaloBotDriver.start(settings, aiohttp_client)
    if request.param == "zalo_oa":
        return await ZaloOADriver.start(settings, aiohttp_client)
    if request.param == "telegram":
        await aiohttp_client(create_app(telegram_settings(settings, tg)))
        return TelegramDriver(tg)
    client = await aiohttp_client(create_app(settings))
    await (await client.get("/chat")).release()
    return WebChatDriver(client)
