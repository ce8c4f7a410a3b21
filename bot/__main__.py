"""Command line: `python -m bot --help`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import date

from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging

log = logging.getLogger("bot")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Cầu Nối: a two-way chatbot between the authorities and citizens "
        "for the sustainable poverty-reduction programme. Configuration comes from the "
        "environment and .env (see .env.example).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("run", help="start the web server (web chat, health), and Telegram when a token is set")
    db = commands.add_parser("db", help="database schema: upgrade, downgrade, current")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="apply all migrations")
    down = db_commands.add_parser("downgrade", help="revert migrations to a revision")
    down.add_argument("revision", help="target revision, e.g. -1 or base")
    db_commands.add_parser("current", help="show the applied revision")
    ask = commands.add_parser("ask", help="answer questions the way the bot would (one per line from stdin without QUESTION)")
    ask.add_argument("question", nargs="*", metavar="QUESTION", help="the question (several words are joined)")
    ask.add_argument("--locale", choices=("vi", "en"), default=None, help="answer language (default: DEFAULT_LOCALE)")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ask.add_argument("--on", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD", help="answer as on this day (default: today)")
    content = commands.add_parser("content", help="content files: check, import into the database")
    content_commands = content.add_subparsers(dest="content_command", metavar="ACTION", required=True)
    content_commands.add_parser("check", help="validate content/ (FAQ, topics, stories, areas); exit 1 listing every error")
    content_commands.add_parser("import", help="validate, then load areas, topics, FAQ and stories into the database (idempotent)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    if args.command == "run":
        return _run(settings)
    if args.command == "db":
        return _db(settings, args)
    if args.command == "content":
        return _content_check() if args.content_command == "check" else asyncio.run(_content_import(settings))
    if args.command == "ask":
        from bot.ask import run_ask

        return asyncio.run(run_ask(settings, args.question, locale=args.locale, as_json=args.json, on=args.on))
    return 2


def _run(settings: Settings) -> int:
    from aiohttp import web
    from telegram.error import InvalidToken

    from bot.app import create_app

    app = create_app(settings)

    async def announce(_app: web.Application) -> None:
        log.info("Cầu Nối is running: web chat at http://%s:%s/chat", settings.web_host, settings.web_port)

    app.on_startup.append(announce)
    try:
        web.run_app(app, host=settings.web_host, port=settings.web_port, print=None, access_log=None)
    except InvalidToken:
        log.error("TELEGRAM_BOT_TOKEN was rejected by Telegram; check the token from @BotFather")
        return 1
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s (set WEB_HOST / WEB_PORT)", settings.web_host, settings.web_port, exc)
        return 1
    return 0


def _db(settings: Settings, args: argparse.Namespace) -> int:
    from storage import migrate

    if args.db_command == "upgrade":
        migrate.upgrade(settings.database_url)
        log.info("database schema is up to date")
    elif args.db_command == "downgrade":
        migrate.downgrade(settings.database_url, args.revision)
    else:
        migrate.current(settings.database_url)
    return 0


def _content_check() -> int:
    from content.areas import read_area_records
    from content.loader import ContentInvalid, load_content

    try:
        bundle = load_content(area_codes=[record.code for record in read_area_records()])
    except ContentInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"{len(exc.errors)} error(s) in content/", file=sys.stderr)
        return 1
    print(f"content/ is valid: {len(bundle.topics)} topics, {len(bundle.faqs)} FAQ entries, {len(bundle.stories)} stories")
    return 0


async def _content_import(settings: Settings) -> int:
    from content.importer import import_all
    from content.loader import ContentInvalid
    from handlers.engine import utc_now
    from storage.db import create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            counts = await import_all(session, now=utc_now())
            await session.commit()
    except ContentInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    log.info("imported %s", ", ".join(f"{count} {kind}" for kind, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
