"""Staff accounts: passwords, logins and sessions, and one-time codes that link a chat account. Never commits."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from storage.models import Area, AreaLevel, Staff, StaffRole, StaffSession
from storage.ticket_rules import fold_symbols, random_symbols

USERNAME = re.compile(r"^[a-z0-9_.-]{3,64}$")
MIN_PASSWORD_LENGTH = 8
LINK_CODE_LENGTH = 8
LINK_CODE_TTL = timedelta(hours=24)
SESSION_IDLE = timedelta(hours=2)
# scrypt as recommended for interactive logins (16 MiB of memory per check).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SALT_BYTES, _KEY_BYTES = 2**14, 8, 1, 16, 32
_MAX_SCRYPT_N = 2**20  # refuse stored parameters that would make one check take seconds


class StaffError(ValueError):
    """A staff account request that cannot be done; the message says why, in one line."""


def hash_password(password: str) -> str:
    """A salted scrypt hash, stored as "scrypt$n$r$p$salt_b64$hash_b64"."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(("scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(key)))


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the stored hash (constant-time); malformed hashes never match."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        n_, r_, p_ = int(n), int(r), int(p)
        expected = base64.b64decode(key, validate=True)
        if scheme != "scrypt" or not 1 < n_ <= _MAX_SCRYPT_N or not 1 <= r_ <= 32 or not 1 <= p_ <= 16:
            return False
        actual = _scrypt(password, base64.b64decode(salt, validate=True), n_, r_, p_, len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int = _KEY_BYTES) -> bytes:
    """hashlib.scrypt with enough memory allowed for the parameters."""
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=length)


def _b64(data: bytes) -> str:
    """Standard base64 text (never contains "$")."""
    return base64.b64encode(data).decode("ascii")


async def create_staff(
    session: AsyncSession,
    username: str,
    role: StaffRole | str,
    area_code: str | None,
    password: str | None,
    now: datetime,
    display_name: str = "",
) -> Staff:
    """Add a staff account; commune staff need a commune, the others at most a province.

    Without a password the account cannot log in to the dashboard (chat tools only).
    """
    if not USERNAME.match(username):
        raise StaffError(f"username {username!r}: use 3-64 of a-z, 0-9, _ . -")
    try:
        role = StaffRole(role)
    except ValueError:
        raise StaffError(f"unknown role {role!r} (use {', '.join(StaffRole)})") from None
    if password is not None:
        check_new_password(password)
    await _check_area(session, role, area_code)
    if await get_staff(session, username) is not None:
        raise StaffError(f"username {username!r} is taken")
    staff = Staff(
        username=username,
        display_name=display_name,
        role=role,
        area_code=area_code,
        password_hash=await asyncio.to_thread(hash_password, password) if password is not None else "",
        created_at=now,
    )
    session.add(staff)
    await session.flush()
    return staff


async def _check_area(session: AsyncSession, role: StaffRole, area_code: str | None) -> None:
    """Commune staff need an existing commune; admin and province staff at most the province."""
    area = await session.get(Area, area_code) if area_code else None
    if area_code and area is None:
        raise StaffError(f"unknown area {area_code!r} (run `python -m bot content import` to load areas)")
    if role == StaffRole.commune and (area is None or area.level != AreaLevel.commune):
        raise StaffError("commune staff need --area with the code of a commune or ward")
    if role != StaffRole.commune and area is not None and area.level != AreaLevel.province:
        raise StaffError(f"{role} staff see every commune: give no --area, or the province code")


async def get_staff(session: AsyncSession, username: str) -> Staff | None:
    """The staff account with this username, active or not."""
    return (await session.exec(select(Staff).where(Staff.username == username))).first()


async def list_staff(session: AsyncSession) -> list[Staff]:
    """Every staff account, by username."""
    return list((await session.exec(select(Staff).order_by(col(Staff.username)))).all())


async def new_link_code(session: AsyncSession, staff: Staff, now: datetime, ttl: timedelta = LINK_CODE_TTL) -> str:
    """A one-time code the staff member sends to the bot as /link CODE; only its hash is stored."""
    code = random_symbols(LINK_CODE_LENGTH)
    staff.link_code_hash = _code_hash(code)
    staff.link_code_expires_at = now + ttl
    return code


async def redeem_link_code(
    session: AsyncSession, code: str, channel: str, chat_user_id: str, now: datetime
) -> Staff | None:
    """Link this chat account to the staff member whose live code this is; the code works once.

    A chat account belongs to one staff member: any earlier link of it is removed.
    """
    wanted = _code_hash(fold_symbols(code))
    pending = await session.exec(
        select(Staff).where(col(Staff.link_code_hash).is_not(None), col(Staff.active).is_(True))
    )
    match = None
    for staff in pending.all():  # compare every candidate, in constant time, so timing reveals nothing
        if hmac.compare_digest(staff.link_code_hash or "", wanted):
            match = staff
    if match is None:
        return None
    match.link_code_hash = None
    expires_at = match.link_code_expires_at
    match.link_code_expires_at = None
    if expires_at is None or expires_at <= now:
        return None
    await session.exec(
        update(Staff)
        .where(col(Staff.chat_channel) == channel, col(Staff.chat_user_id) == chat_user_id, col(Staff.id) != match.id)
        .values(chat_channel=None, chat_user_id=None)
    )
    match.chat_channel, match.chat_user_id = channel, chat_user_id
    match.chat_linked_at = match.chat_link_seen_at = now
    return match


# A link made from the web chat ends like a staff session: a browser is often a shared office PC,
# and its identity is a cookie. A messenger account (Telegram, Zalo) is the officer's own phone.
SESSION_LIKE_CHANNELS = frozenset({"webchat"})


def link_ended(staff: Staff, now: datetime, web_link: timedelta) -> bool:
    """Whether the staff member's chat link is one that ends like a session, and has ended: at
    `web_link` after it was made (STAFF_SESSION_HOURS), or after SESSION_IDLE without use."""
    if staff.chat_channel not in SESSION_LIKE_CHANNELS:
        return False
    if staff.chat_linked_at is None or staff.chat_linked_at + web_link <= now:
        return True
    return (staff.chat_link_seen_at or staff.chat_linked_at) + SESSION_IDLE <= now


async def staff_for_chat(session: AsyncSession, channel: str, chat_user_id: str) -> Staff | None:
    """The active staff member linked to this chat account, if any (ended or not: see link_ended)."""
    query = select(Staff).where(
        Staff.chat_channel == channel, Staff.chat_user_id == chat_user_id, col(Staff.active).is_(True)
    )
    return (await session.exec(query)).first()


def unlink_chat(staff: Staff) -> str | None:
    """End the staff member's chat link; the channel it was on, if any (the caller audits and commits)."""
    channel = staff.chat_channel
    staff.chat_channel = staff.chat_user_id = None
    staff.chat_linked_at = staff.chat_link_seen_at = None
    return channel


async def linked_staff(session: AsyncSession, now: datetime, web_link: timedelta) -> list[Staff]:
    """Active staff members with a live chat link (who can get reminders), by username."""
    query = select(Staff).where(
        col(Staff.chat_channel).is_not(None), col(Staff.chat_user_id).is_not(None), col(Staff.active).is_(True)
    )
    found = (await session.exec(query.order_by(col(Staff.username)))).all()
    return [staff for staff in found if not link_ended(staff, now, web_link)]


def _code_hash(code: str) -> str:
    """SHA-256 of a link code: the code is random enough that no salt or slow hash is needed."""
    return hashlib.sha256(code.encode()).hexdigest()


# Checked against when the username does not exist, so that both cases take the same time.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


async def login_candidate(session: AsyncSession, username: str) -> tuple[int | None, str]:
    """The account id and password hash a sign-in is checked against. An unknown, disabled or
    password-less name gets no id and a dummy hash, so that its check costs the same time."""
    name = username.strip().lower()
    staff = await get_staff(session, name) if USERNAME.match(name) else None
    if staff is None or not staff.active or not staff.password_hash:
        return None, _DUMMY_HASH
    return staff.id, staff.password_hash


async def check_password(stored: str, password: str) -> bool:
    """verify_password in a thread: scrypt takes tens of milliseconds, in which the event loop goes
    on answering other requests (call it with no database connection held)."""
    return await asyncio.to_thread(verify_password, stored, password)


async def signed_in(session: AsyncSession, staff_id: int, now: datetime) -> Staff | None:
    """The account whose password was just checked, its last sign-in set; None if it was disabled meanwhile.
    No account is ever locked: throttling counts the pair (account, address) instead (storage/logins.py)."""
    staff = await session.get(Staff, staff_id)
    if staff is None or not staff.active:
        return None
    staff.failed_logins = 0
    staff.locked_until = None
    staff.last_login_at = now
    return staff


async def open_session(
    session: AsyncSession, staff: Staff, now: datetime, lifetime: timedelta
) -> tuple[str, StaffSession]:
    """A new login session; returns the cookie token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    assert staff.id is not None, "a stored account"
    row = StaffSession(
        token_hash=_code_hash(token),
        staff_id=staff.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    await session.flush()
    return token, row


async def resume_session(session: AsyncSession, token: str, now: datetime) -> tuple[StaffSession, Staff] | None:
    """The live session of this cookie token and its active staff member; touches its last use.

    A session ends at its expiry time, after SESSION_IDLE without use, or when the account is disabled.
    """
    if not token or len(token) > 100:
        return None
    row = (await session.exec(select(StaffSession).where(StaffSession.token_hash == _code_hash(token)))).first()
    if row is None:
        return None
    staff = await session.get(Staff, row.staff_id)
    if row.expires_at <= now or row.last_seen_at + SESSION_IDLE <= now or staff is None or not staff.active:
        await session.delete(row)
        return None
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now
    return row, staff


async def close_sessions(session: AsyncSession, staff_id: int, *, token: str | None = None) -> None:
    """End one session (by token) or every session of a staff member."""
    statement = delete(StaffSession).where(col(StaffSession.staff_id) == staff_id)
    if token is not None:
        statement = statement.where(col(StaffSession.token_hash) == _code_hash(token))
    await session.exec(statement)


async def purge_sessions(session: AsyncSession, now: datetime) -> None:
    """Drop expired sessions."""
    await session.exec(delete(StaffSession).where(col(StaffSession.expires_at) <= now))


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of the zxcvbn library's list (shipped with it, no network)."""
    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str) -> str | None:
    """Why a password is refused ("too_short", "common": one of the list, maybe with digits or "!"
    after it, in any case), or None when it will do."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "too_short"
    folded = password.strip().lower()
    if folded in _common_passwords() or folded.rstrip("0123456789!.") in _common_passwords():
        return "common"
    return None


def check_new_password(password: str) -> None:
    """StaffError (one line) when a new password is too short or one of the most common ones."""
    problem = password_problem(password)
    if problem == "too_short":
        raise StaffError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if problem == "common":
        raise StaffError("password is one of the most common passwords: choose another")


async def set_password(
    session: AsyncSession, staff: Staff, password: str, *, one_time: bool = False, keep_token: str | None = None
) -> None:
    """A new password; every open session of the account ends (but the one of `keep_token`), and
    so does a chat link made from the web chat. A one-time password (an admin's reset) must be
    changed at the next sign-in."""
    check_new_password(password)
    staff.password_hash = await asyncio.to_thread(hash_password, password)
    staff.must_change_password = one_time
    staff.failed_logins = 0
    staff.locked_until = None
    if staff.chat_channel in SESSION_LIKE_CHANNELS:
        unlink_chat(staff)
    statement = delete(StaffSession).where(col(StaffSession.staff_id) == staff.id)
    if keep_token is not None:
        statement = statement.where(col(StaffSession.token_hash) != _code_hash(keep_token))
    await session.exec(statement)


async def set_active(session: AsyncSession, staff: Staff, active: bool) -> None:
    """Enable or disable an account; disabling ends its sessions and unlinks its chat account."""
    staff.active = active
    if not active:
        unlink_chat(staff)
        assert staff.id is not None, "a stored account"
        await close_sessions(session, staff.id)
