"""Command line: `python -m bot --help`."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from bot.roles import Role

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

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
    run = commands.add_parser(
        "run",
        help="start the web server (web chat, staff dashboard, health), and Telegram or Zalo when a token is set",
        description="Start the web server on WEB_HOST:WEB_PORT. Behind a reverse proxy, set PUBLIC_BASE_URL (the "
        "public https address links are built from) and TRUSTED_PROXIES (whose X-Forwarded-* headers "
        "are believed); deploy/ holds the nginx site and the systemd units (docs/deploy.md).",
    )
    run.add_argument(
        "--role",
        choices=[role.value for role in Role],
        default=Role.all.value,
        help="all (default): everything in one process; web: web chat, dashboard and webhooks only; "
        "worker: outbox senders, scheduler and polling only (see docs/deploy.md)",
    )
    run.set_defaults(func=_run)
    db = commands.add_parser("db", help="database: upgrade, downgrade, current schema; backup, restore; prune")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="apply all migrations").set_defaults(func=_db_upgrade)
    down = db_commands.add_parser("downgrade", help="revert migrations to a revision")
    down.add_argument("revision", help="target revision, e.g. -1 or base")
    down.set_defaults(func=_db_downgrade)
    db_commands.add_parser("current", help="show the applied revision").set_defaults(func=_db_current)
    backup = db_commands.add_parser(
        "backup", help="copy the database to a file while the bot runs (SQLite: online backup; PostgreSQL: pg_dump)"
    )
    backup.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="where to write the backup")
    backup.set_defaults(func=_db_backup)
    restore = db_commands.add_parser(
        "restore", help="replace the database with a backup (stop the bot first; SQLite keeps the old file beside it)"
    )
    restore.add_argument("backup_file", type=Path, metavar="FILE", help="a file written by `db backup`")
    restore.set_defaults(func=_db_restore)
    prune = db_commands.add_parser(
        "prune",
        help="apply the retention periods (RETENTION_*) now, as the worker does nightly at PRUNE_AT: "
        "drop old message payloads, expired conversations, old rounds, audit rows and media",
    )
    prune.add_argument("--dry-run", action="store_true", help="print what each rule would remove; change nothing")
    prune.set_defaults(func=_db_prune)
    ask = commands.add_parser(
        "ask", help="answer questions the way the bot would (one per line from stdin without QUESTION)"
    )
    ask.add_argument("question", nargs="*", metavar="QUESTION", help="the question (several words are joined)")
    ask.add_argument("--locale", choices=("vi", "en"), default=None, help="answer language (default: DEFAULT_LOCALE)")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ask.add_argument(
        "--on",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="answer as on this day (default: today)",
    )
    ask.set_defaults(func=_ask)
    content = commands.add_parser("content", help="content files: check (as on a day), import into the database")
    content_commands = content.add_subparsers(dest="content_command", metavar="ACTION", required=True)
    check = content_commands.add_parser(
        "check",
        help="validate content/ (FAQ, topics, stories, campaigns, quiz, areas) and check it as on a day: "
        "topics and quiz questions in force, replacements, entries to review; exit 1 listing every error",
    )
    check.add_argument(
        "--on",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="check the content as it will be on this day (default: today in TIMEZONE); entries ending within "
        "60 days after it, or waiting for review, are listed to review",
    )
    check.set_defaults(func=_content_check)
    content_import = content_commands.add_parser(
        "import",
        help="validate, then load areas, topics, FAQ, stories, campaigns and the quiz into the database "
        "(idempotent); FAQ entries, stories and quiz questions edited in the dashboard are kept",
    )
    content_import.add_argument(
        "--overwrite",
        action="store_true",
        help="write the files over entries edited in the dashboard too, and unpublish every quiz question not in "
        "quiz.yaml",
    )
    content_import.set_defaults(func=_content_import)
    staff = commands.add_parser("staff", help="staff accounts: add, link-code, list")
    staff_commands = staff.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    add = staff_commands.add_parser("add", help="create a staff account (asks for the password twice)")
    add.add_argument("username", help="3-64 of a-z, 0-9, _ . -")
    add.add_argument(
        "--role",
        required=True,
        metavar="admin|province|commune",
        help="admin: everything; province: all communes; commune: one commune",
    )
    add.add_argument("--area", default=None, metavar="CODE", help="the commune's code (required for --role commune)")
    add.add_argument("--name", default="", help="display name shown to colleagues")
    add.add_argument("--password-stdin", action="store_true", help="read the password from one line of standard input")
    add.set_defaults(func=_staff, action=_staff_add)
    link = staff_commands.add_parser(
        "link-code", help="print a one-time code that links a chat account to a staff account"
    )
    link.add_argument("username")
    link.set_defaults(func=_staff, action=_staff_link_code)
    staff_commands.add_parser("list", help="list staff accounts").set_defaults(func=_staff, action=_staff_list)
    export = commands.add_parser("export", help="export data for reports")
    export_commands = export.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    tickets = export_commands.add_parser(
        "tickets", help="tickets as CSV or XLSX (never the names of anonymous senders)"
    )
    tickets.add_argument(
        "--format", choices=("csv", "xlsx"), default=None, help="file format (default: from the file name)"
    )
    _add_day(tickets, "--since", "only tickets created on or after this day", default=None)
    tickets.add_argument("--area", default=None, metavar="CODE", help="only tickets of this commune")
    tickets.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="where to write")
    tickets.set_defaults(func=_export_tickets)
    report = commands.add_parser(
        "report", help="the 6-monthly / annual report on communication results as an Excel workbook"
    )
    _add_day(report, "--from", "first day of the period", dest="first", required=True)
    _add_day(report, "--to", "last day of the period (included)", dest="last", required=True)
    report.add_argument("--area", default=None, metavar="CODE", help="only this commune (default: the whole province)")
    report.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.xlsx", help="where to write")
    report.set_defaults(func=_report)
    from bot.broadcast_cli import add_parser as add_broadcast

    add_broadcast(commands)
    return parser


def _add_day(parser: argparse.ArgumentParser, flag: str, help: str, **options: Any) -> None:
    """An option that takes a day as YYYY-MM-DD."""
    parser.add_argument(flag, type=date.fromisoformat, metavar="YYYY-MM-DD", help=help, **options)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    status = args.func(settings, args)
    return asyncio.run(status) if inspect.iscoroutine(status) else status


def _run(settings: Settings, args: argparse.Namespace) -> int:
    """`run`: the web server and, by --role, the channels, sender and scheduler, until stopped."""
    from aiohttp import web
    from telegram.error import InvalidToken

    from bot.app import create_app
    from storage.migrate import SchemaNotCurrent

    role = Role(args.role)
    app = create_app(settings, role=role)

    async def announce(_app: web.Application) -> None:
        if role.serves:
            log.info(
                "Cầu Nối is running (%s): web chat at http://%s:%s/chat", role, settings.web_host, settings.web_port
            )
        else:
            log.info(
                "Cầu Nối is running (worker): health at http://%s:%s/healthz", settings.web_host, settings.web_port
            )

    app.on_startup.append(announce)
    try:
        web.run_app(app, host=settings.web_host, port=settings.web_port, print=None, access_log=None)
    except InvalidToken:
        log.error("TELEGRAM_BOT_TOKEN was rejected by Telegram; check the token from @BotFather")
        return 1
    except SchemaNotCurrent as exc:
        log.error("%s", exc)
        return 1
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s (set WEB_HOST / WEB_PORT)", settings.web_host, settings.web_port, exc)
        return 1
    return 0


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    """`db upgrade`: apply every migration."""
    from storage import migrate

    migrate.upgrade(settings.database_url)
    log.info("database schema is up to date")
    return 0


def _db_downgrade(settings: Settings, args: argparse.Namespace) -> int:
    """`db downgrade REVISION`."""
    from storage import migrate

    migrate.downgrade(settings.database_url, args.revision)
    return 0


def _db_current(settings: Settings, _args: argparse.Namespace) -> int:
    """`db current`: print the applied revision."""
    from storage import migrate

    migrate.current(settings.database_url)
    return 0


def _db_backup(settings: Settings, args: argparse.Namespace) -> int:
    """`db backup -o FILE`."""
    from storage import backup

    return _copied(lambda: backup.backup(settings.database_url, args.output))


def _db_restore(settings: Settings, args: argparse.Namespace) -> int:
    """`db restore FILE`."""
    from storage import backup

    return _copied(lambda: backup.restore(settings.database_url, args.backup_file))


def _copied(copy: Callable[[], object]) -> int:
    """Run a backup or restore: log what it did, or print why it could not (exit 1)."""
    from storage.backup import BackupError

    try:
        done = copy()
    except BackupError as exc:
        print(exc, file=sys.stderr)
        return 1
    log.info("%s", done)
    return 0


async def _db_prune(settings: Settings, args: argparse.Namespace) -> int:
    """`db prune`: print per retention rule what it removes (or would remove); audit-log a real run."""
    from sqlalchemy.exc import OperationalError

    from handlers.engine import utc_now
    from storage import prune
    from storage.db import opened

    dry_run = args.dry_run
    now = utc_now()
    try:
        async with opened(settings.database_url) as sessions:
            chosen = prune.rules(settings.retention)
            if dry_run:
                outcomes = await prune.dry_run(sessions, chosen, now)
            else:
                outcomes = await prune.run(sessions, chosen, now)
                async with sessions() as session:
                    await prune.record(session, outcomes, now, actor="cli")
                    await session.commit()
    except OperationalError as exc:
        print(f"db prune: database not ready ({exc.orig}); run `python -m bot db upgrade`", file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(outcome.line(dry_run=dry_run))
    return 1 if any(outcome.error for outcome in outcomes) else 0


async def _ask(settings: Settings, args: argparse.Namespace) -> int:
    """`ask`: answer questions as the bot would."""
    from bot.ask import run_ask

    return await run_ask(settings, args.question, locale=args.locale, as_json=args.json, on=args.on)


def _content_check(settings: Settings, args: argparse.Namespace) -> int:
    """`content check`: validate the files, then report on them as on --on (default: today;
    content.check); 1 on any error."""
    from content.areas import read_area_records
    from content.campaigns import load_campaigns
    from content.check import check_on
    from content.loader import ContentInvalid, load_content
    from content.pages import load_pages
    from content.quiz import load_quiz
    from content.selfcheck import load_selfcheck

    day, tz = args.on or datetime.now(settings.tz).date(), settings.tz
    codes = [record.code for record in read_area_records()]
    try:
        bundle = load_content(area_codes=codes)
        campaigns = load_campaigns(area_codes=codes)
        questions = load_quiz(faqs=bundle.faqs, topics=bundle.topics)
        pages = load_pages()
        selfcheck = load_selfcheck()
    except ContentInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"{len(exc.errors)} error(s) in content/", file=sys.stderr)
        return 1
    print(
        f"content/ is valid: {len(bundle.topics)} topics, {len(bundle.faqs)} FAQ entries, {len(bundle.stories)} "
        f"stories, {len(campaigns)} campaigns"
    )
    print(selfcheck.summary_on(day))
    report = check_on(day, bundle, questions=questions, campaigns=campaigns, pages=pages, tz=tz)
    print("\n".join(report.lines()))
    in_force = any(standard.applies_on(day) for standard in selfcheck.standards)
    if not in_force:
        print(f"error: no poverty standard in content/selfcheck.yaml applies on {day}", file=sys.stderr)
    return 1 if report.errors or not in_force else 0


async def _content_import(settings: Settings, args: argparse.Namespace) -> int:
    """`content import`: load the content files into the database."""
    from content.importer import import_database
    from content.loader import ContentInvalid
    from handlers.engine import utc_now

    try:
        imported = await import_database(settings.database_url, now=utc_now(), overwrite=args.overwrite)
    except ContentInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    log.info("imported %s", ", ".join(f"{count} {kind}" for kind, count in imported.counts.items()))
    for line in imported.kept_lines():
        log.info("%s", line)
    return 0


def _read_password(from_stdin: bool) -> str | None:
    """The new password from one stdin line, or typed twice; None (after a message) on mismatch."""
    import getpass

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        print("staff add: the passwords differ", file=sys.stderr)
        return None
    return first


async def _staff(settings: Settings, args: argparse.Namespace) -> int:
    """`staff add|link-code|list`: run the action (`args.action`) in one transaction, then print its output."""
    from sqlalchemy.exc import OperationalError

    from storage.db import opened
    from storage.staff import StaffError

    password = _read_password(args.password_stdin) if args.action is _staff_add else ""
    if password is None:
        return 2
    try:
        async with opened(settings.database_url) as sessions, sessions() as session:
            output = await args.action(session, args, password)
            await session.commit()
    except StaffError as exc:
        print(f"staff {args.staff_command}: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(
            f"staff {args.staff_command}: database not ready ({exc.orig}); run `python -m bot db upgrade`",
            file=sys.stderr,
        )
        return 1
    print(output)
    return 0


async def _staff_add(session: AsyncSession, args: argparse.Namespace, password: str) -> str:
    """`staff add`: create the account."""
    from handlers.engine import utc_now
    from storage import staff as staff_repo

    member = await staff_repo.create_staff(
        session, args.username, args.role, args.area, password, utc_now(), display_name=args.name
    )
    return f"added {member.username} ({member.role}{', ' + member.area_code if member.area_code else ''})"


async def _staff_link_code(session: AsyncSession, args: argparse.Namespace, _password: str) -> str:
    """`staff link-code`: a one-time code that links a chat account."""
    from handlers.engine import utc_now
    from storage import staff as staff_repo

    member = await staff_repo.get_staff(session, args.username)
    if member is None:
        raise staff_repo.StaffError(f"no staff account {args.username!r}")
    code = await staff_repo.new_link_code(session, member, utc_now())
    return f"{code}\nsend /link {code} to the bot within 24 hours to link a chat account to {member.username}"


async def _staff_list(session: AsyncSession, _args: argparse.Namespace, _password: str) -> str:
    """`staff list`: one line per account."""
    from storage import staff as staff_repo

    lines = []
    for member in await staff_repo.list_staff(session):
        linked = f"{member.chat_channel}:{member.chat_user_id}" if member.chat_channel else "-"
        lines.append(
            f"{member.username}\t{member.role}\t{member.area_code or '-'}\t"
            f"{'active' if member.active else 'inactive'}\tchat {linked}"
        )
    return "\n".join(lines) or "no staff accounts yet: add one with `python -m bot staff add`"


async def _export_tickets(settings: Settings, args: argparse.Namespace) -> int:
    """`export tickets`: write the tickets as CSV or XLSX (audit-logged)."""
    from bot.export import ExportError, export_tickets
    from handlers.engine import utc_now
    from storage import audit
    from storage.db import opened

    fmt: Literal["csv", "xlsx"] = args.format or ("xlsx" if args.output.suffix.lower() == ".xlsx" else "csv")
    try:
        async with opened(settings.database_url) as sessions, sessions() as session:
            count = await export_tickets(
                session, args.output, fmt, tz=settings.tz, now=utc_now(), since=args.since, area=args.area
            )
            await audit.record(
                session,
                None,
                "export.tickets",
                now=utc_now(),
                actor="cli",
                object_type="file",
                object_id=args.output.name,
                format=fmt,
                rows=count,
                area=args.area or "",
                since=str(args.since or ""),
            )
            await session.commit()
    except ExportError as exc:
        print(f"export tickets: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"export tickets: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {count} tickets to {args.output}")
    return 0


async def _report(settings: Settings, args: argparse.Namespace) -> int:
    """`report`: write the period's report workbook (audit-logged)."""
    from bot.report import Period, PeriodError, ReportInput, write_report
    from content.areas import AreaDirectory
    from content.i18n import Catalogs
    from handlers.engine import utc_now
    from storage import audit
    from storage.db import opened

    areas = AreaDirectory.load()
    try:
        period = Period(args.first, args.last).checked()
    except PeriodError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    commune = areas.get(args.area) if args.area is not None else None
    if args.area is not None and (commune is None or commune.level != "commune"):
        print(f"report: unknown commune {args.area!r}", file=sys.stderr)
        return 2
    now = utc_now()
    report = ReportInput(
        period, args.area, settings.tz, now, areas, Catalogs(settings.tz, settings.default_locale).get()
    )
    try:
        async with opened(settings.database_url) as sessions, sessions() as session:
            await write_report(session, report, args.output)
            await audit.record(
                session,
                None,
                "export.report",
                now=now,
                actor="cli",
                object_type="file",
                object_id=args.output.name[:64],
                first=period.first.isoformat(),
                last=period.last.isoformat(),
                area=args.area or "",
            )
            await session.commit()
    except OSError as exc:
        print(f"report: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote the report for {period.first.isoformat()} – {period.last.isoformat()} to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
