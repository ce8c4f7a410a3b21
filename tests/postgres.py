"""PostgreSQL for the tests: a fresh, migrated database per test on the server in TEST_POSTGRES_URL.

`.ci/run` starts a server on loopback and sets TEST_POSTGRES_URL (a `postgresql+asyncpg://` URL of
a role that may create databases) and REQUIRE_POSTGRES=1. Without TEST_POSTGRES_URL the PostgreSQL
tests are skipped, unless REQUIRE_POSTGRES=1 turns that into a failure.

Once per run a template database is migrated with Alembic (`storage.migrate.upgrade`) and given the
areas and content, like the SQLite template in conftest.py; each test gets its own copy under a
random name (CREATE DATABASE … TEMPLATE), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import SessionFactory, create_engine, session_factory

T = TypeVar("T")
BACKENDS = ["sqlite", "postgres"]


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from synchronous code, even when an event loop is running here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def database_url(server_url: str, name: str) -> str:
    """The URL of another database on the same server."""
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _admin(server_url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE/DROP DATABASE cannot run inside one)."""
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def create_database(server_url: str, *, template: str | None = None, prefix: str = "caunoi_test") -> str:
    """Create a database with a random name (a copy of `template`, or empty); return its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    _run(_admin(server_url, f'CREATE DATABASE "{name}"{copy}'))
    return database_url(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    """Drop the database of `url`, closing any connection a test left open.

    Plain DROP first: it also stops an autovacuum worker busy there, which WITH (FORCE) refuses to
    do for a role without pg_signal_backend.
    """
    drop = f'DROP DATABASE IF EXISTS "{make_url(url).database}"'
    try:
        _run(_admin(server_url, drop))
    except DBAPIError:
        _run(_admin(server_url, drop + " WITH (FORCE)"))


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of the test server: skipped without TEST_POSTGRES_URL, failed if REQUIRE_POSTGRES=1."""
    url = os.environ.get("TEST_POSTGRES_URL", "").strip()
    if not url:
        reason = "TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL server and sets it)"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        _run(_admin(url, "SELECT 1"))
    except Exception as exc:  # set but unusable is a broken environment, never a skip
        pytest.fail(f"cannot reach TEST_POSTGRES_URL: {exc!r}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    """The name of a database migrated to head and holding the areas and content, built once per run."""
    from content.importer import import_database
    from handlers.engine import utc_now
    from storage.migrate import upgrade

    url = create_database(postgres_server, prefix="caunoi_template")
    try:
        upgrade(url)
        _run(import_database(url, now=utc_now()))
        yield str(make_url(url).database)
    finally:
        drop_database(postgres_server, url)


@pytest.fixture
def postgres_url(postgres_server: str, postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test: migrated, with areas and content; dropped after."""
    url = create_database(postgres_server, template=postgres_template)
    yield url
    drop_database(postgres_server, url)


@pytest.fixture
def empty_postgres_url(postgres_server: str) -> Iterator[str]:
    """A new PostgreSQL database with no tables at all (for migration tests); dropped after."""
    url = create_database(postgres_server)
    yield url
    drop_database(postgres_server, url)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on each backend: a migrated database with areas and content, SQLite or PostgreSQL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    template: Path = request.getfixturevalue("template_db")
    path = tmp_path / "bot.db"
    shutil.copy(template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables, on each backend (for migration tests)."""
    if request.param == "postgres":
        return str(request.getfixturevalue("empty_postgres_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"


@pytest.fixture
def backend(db_url: str) -> str:
    """"sqlite" or "postgresql": the dialect behind `db_url`."""
    return make_url(db_url).get_backend_name()


@pytest.fixture
async def db_sessions(db_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions on `db_url`, with the application's own engine settings."""
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()
