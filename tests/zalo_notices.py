"""A notice longer than two Zalo messages, queued for the subscribers of one commune, and the check
that each of them got it whole in 2000-character parts (both Zalo channels split notices alike)."""

from __future__ import annotations

from handlers.engine import utc_now
from storage import broadcasts
from storage.db import SessionFactory

LONG_NOTICE = " ".join(f"Câu thông báo số {n} nói về lịch rà soát hộ nghèo của xã năm nay." for n in range(1, 90))


async def queue_long_notice(sessions: SessionFactory) -> None:
    """LONG_NOTICE, to be sent now to the subscribers of commune 24169."""
    now = utc_now()
    async with sessions() as session:
        await broadcasts.create_broadcast(session, texts={"vi": LONG_NOTICE}, target={"areas": ["24169"]},
                                          send_at=now, now=now, author="test")
        await session.commit()
    assert len(LONG_NOTICE) > 4000


async def got_it_in_parts(zalo, users: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """Each of `users` got LONG_NOTICE whole, in parts of at most 2000 characters cut after a sentence,
    the last one offering to stop notices as choice 1."""
    for user in users:
        parts = await zalo.wait_for_messages(user, 3, timeout=20)
        assert all(len(part.text) <= 2000 for part in parts)
        assert all(part.text.endswith(".") for part in parts[:-1])
        assert "".join(part.text for part in parts).replace(" ", "").startswith(LONG_NOTICE.replace(" ", ""))
        assert "1. 🔕 Ngừng nhận thông báo" in parts[-1].text
