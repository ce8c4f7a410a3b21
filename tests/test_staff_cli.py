"""Staff accounts: passwords, the `staff` commands run as a real process, and chat link codes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from handlers.engine import utc_now
from storage import staff as staff_repo
from storage.db import SessionFactory
from storage.models import StaffRole

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def run_cli(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` on the test's database, with no .env and the given standard input."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=settings.data_dir.parent, input=stdin, capture_output=True, text=True, timeout=60,
        env={
            "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING",
            "DATABASE_URL": settings.database_url, "DATA_DIR": str(settings.data_dir),
        },
    )


def test_password_hash_round_trip_and_format() -> None:
    stored = staff_repo.hash_password("mật khẩu dài")
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert staff_repo.verify_password(stored, "mật khẩu dài")
    assert not staff_repo.verify_password(stored, "mật khẩu dai")
    assert staff_repo.hash_password("mật khẩu dài") != stored  # fresh salt every time
    for broken in ("", "plain", "scrypt$1$8$1$AAAA$AAAA", stored.replace("scrypt", "md5"), stored + "$x"):
        assert not staff_repo.verify_password(broken, "mật khẩu dài")


async def test_staff_add_stores_a_hash_not_the_password(settings: Settings, sessions: SessionFactory) -> None:
    result = run_cli(settings, "staff", "add", "hoa.phu", "--role", "commune", "--area", "24175", "--password-stdin",
                     stdin="an toàn 123\n")
    assert result.returncode == 0, result.stderr
    assert "hoa.phu" in result.stdout
    async with sessions() as session:
        member = await staff_repo.get_staff(session, "hoa.phu")
    assert member is not None and member.role == StaffRole.commune and member.area_code == "24175"
    assert "an toàn" not in member.password_hash and member.password_hash.startswith("scrypt$")
    assert staff_repo.verify_password(member.password_hash, "an toàn 123")
    listed = run_cli(settings, "staff", "list")
    assert listed.returncode == 0 and listed.stdout.startswith("hoa.phu\tcommune\t24175\tactive")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["boss", "--role", "boss"], "unknown role 'boss'"),
        (["boss", "--role", "commune"], "commune staff need --area"),
        (["boss", "--role", "commune", "--area", "66"], "commune staff need --area"),
        (["boss", "--role", "commune", "--area", "99999"], "unknown area '99999'"),
        (["boss", "--role", "province", "--area", "24175"], "give no --area"),
        (["Bad Name", "--role", "admin"], "username 'Bad Name'"),
    ],
)
def test_staff_add_refuses_bad_input_in_one_line(settings: Settings, args: list[str], message: str) -> None:
    result = run_cli(settings, "staff", "add", *args, "--password-stdin", stdin="long enough\n")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("staff add: ") and message in result.stderr


def test_staff_add_refuses_a_short_password_and_a_taken_name(settings: Settings) -> None:
    short = run_cli(settings, "staff", "add", "admin", "--role", "admin", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8" in short.stderr
    assert run_cli(settings, "staff", "add", "admin", "--role", "admin", "--password-stdin", stdin="long enough\n").returncode == 0
    again = run_cli(settings, "staff", "add", "admin", "--role", "admin", "--password-stdin", stdin="long enough\n")
    assert again.returncode == 2 and again.stderr.strip() == "staff add: username 'admin' is taken"


async def test_link_code_is_printed_and_works_once(settings: Settings, sessions: SessionFactory) -> None:
    assert run_cli(settings, "staff", "add", "tinh", "--role", "province", "--password-stdin", stdin="long enough\n").returncode == 0
    result = run_cli(settings, "staff", "link-code", "tinh")
    assert result.returncode == 0, result.stderr
    code = result.stdout.splitlines()[0]
    assert len(code) == 8 and set(code) <= set("ABCDEFGHJKMNPQRSTWXYZ23456789")
    assert f"/link {code}" in result.stdout and "24 hours" in result.stdout
    async with sessions() as session:
        assert (await staff_repo.get_staff(session, "tinh")).link_code_hash not in (None, code)  # type: ignore[union-attr]
        assert await staff_repo.redeem_link_code(session, "WRONG234", "telegram", "42", datetime.now(UTC)) is None
        linked = await staff_repo.redeem_link_code(session, code.lower(), "telegram", "42", datetime.now(UTC))
        assert linked is not None and linked.username == "tinh"
        assert await staff_repo.redeem_link_code(session, code, "telegram", "43", datetime.now(UTC)) is None
        await session.commit()
    async with sessions() as session:
        found = await staff_repo.staff_for_chat(session, "telegram", "42")
        assert found is not None and found.username == "tinh" and found.link_code_hash is None
    missing = run_cli(settings, "staff", "link-code", "nobody")
    assert missing.returncode == 2 and missing.stderr.strip() == "staff link-code: no staff account 'nobody'"


async def test_expired_link_code_and_inactive_staff(sessions: SessionFactory) -> None:
    async with sessions() as session:
        member = await staff_repo.create_staff(session, "xa.hoaphu", StaffRole.commune, "24175", None, NOW)
        code = await staff_repo.new_link_code(session, member, NOW, ttl=timedelta(hours=1))
        assert await staff_repo.redeem_link_code(session, code, "telegram", "7", NOW + timedelta(hours=2)) is None
        code = await staff_repo.new_link_code(session, member, NOW)
        assert await staff_repo.redeem_link_code(session, code, "telegram", "7", NOW) is not None
        assert await staff_repo.staff_for_chat(session, "telegram", "7") is member
        member.active = False
        assert await staff_repo.staff_for_chat(session, "telegram", "7") is None
        assert member.password_hash == ""  # no password: chat tools only, no dashboard login


async def test_a_chat_account_links_to_one_staff_member(sessions: SessionFactory) -> None:
    async with sessions() as session:
        first = await staff_repo.create_staff(session, "first", StaffRole.admin, None, None, NOW)
        second = await staff_repo.create_staff(session, "second", StaffRole.admin, None, None, NOW)
        await staff_repo.redeem_link_code(session, await staff_repo.new_link_code(session, first, NOW), "telegram", "9", NOW)
        await staff_repo.redeem_link_code(session, await staff_repo.new_link_code(session, second, NOW), "telegram", "9", NOW)
        await session.commit()
    async with sessions() as session:
        assert (await staff_repo.staff_for_chat(session, "telegram", "9")).username == "second"  # type: ignore[union-attr]
        assert (await staff_repo.get_staff(session, "first")).chat_user_id is None  # type: ignore[union-attr]
        assert [member.username for member in await staff_repo.linked_staff(session, utc_now(), timedelta(hours=12))] == ["second"]
