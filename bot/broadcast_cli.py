"""`python -m bot broadcast …`: send, preview, follow and cancel notices from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import datetime
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from content.i18n import Catalogs
from handlers.engine import utc_now
from handlers.quiz import broadcast_button
from storage import audit, broadcasts
from storage.core import id_of
from storage.db import opened
from storage.files import write_private
from storage.models import Broadcast, HouseholdStatus


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `broadcast send|status|cancel`."""
    parser = commands.add_parser("broadcast", help="notices to subscribed citizens: send, status, cancel")
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(dest="broadcast_command", metavar="ACTION", required=True)
    send = actions.add_parser("send", help="send (or schedule) a notice; prints its id")
    send.add_argument("--text", required=True, help="the Vietnamese text")
    send.add_argument("--text-en", default="", help="the English text (else English speakers get the Vietnamese one)")
    send.add_argument(
        "--area",
        action="append",
        default=[],
        metavar="CODE",
        help="commune code, or 66 for the whole province (repeatable)",
    )
    send.add_argument("--status", default="", help="household statuses, e.g. poor,near_poor")
    send.add_argument(
        "--locale", action="append", default=[], choices=("vi", "en"), help="only citizens using this language"
    )
    send.add_argument("--at", default="", metavar='"YYYY-MM-DD HH:MM"', help="local time to send (default: now)")
    send.add_argument("--urgent", action="store_true", help="send even during quiet hours, before other notices")
    send.add_argument(
        "--image", type=Path, default=None, metavar="FILE", help="a JPEG or PNG photo to send with the text"
    )
    send.add_argument("--faq", action="append", default=[], metavar="ID", help="add a button opening this FAQ entry")
    send.add_argument("--story", action="append", default=[], metavar="ID", help="add a button opening this story")
    send.add_argument("--quiz", action="store_true", help="add a button starting the policy quiz")
    send.add_argument("--preview", action="store_true", help="only print how many citizens it would reach")
    send.set_defaults(action=_send)
    status = actions.add_parser("status", help="counts of a notice's messages by status")
    status.add_argument("id", type=int)
    status.add_argument("--json", action="store_true")
    status.set_defaults(action=_status)
    cancel = actions.add_parser("cancel", help="stop what has not been sent yet")
    cancel.add_argument("id", type=int)
    cancel.set_defaults(action=_cancel)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Carry out one broadcast command (`args.action`, set by its parser) in one session."""
    async with opened(settings.database_url) as sessions, sessions() as session:
        return await args.action(session, settings, args)


async def _cancel(session: AsyncSession, _settings: Settings, args: argparse.Namespace) -> int:
    broadcast = await session.get(Broadcast, args.id)
    if broadcast is None:
        return _no_notice(args.id)
    dropped = await broadcasts.cancel(session, broadcast)
    await audit.record(
        session,
        None,
        "broadcast.cancel",
        now=utc_now(),
        actor="cli",
        object_type="broadcast",
        object_id=str(broadcast.id),
    )
    await session.commit()
    print(f"broadcast {broadcast.id} cancelled; {dropped} message(s) will not be sent")
    return 0


async def _status(session: AsyncSession, _settings: Settings, args: argparse.Namespace) -> int:
    broadcast = await session.get(Broadcast, args.id)
    if broadcast is None:
        return _no_notice(args.id)
    counts = await broadcasts.status_counts(session, id_of(broadcast))
    report = {"id": broadcast.id, "status": broadcast.status, "recipients": broadcast.recipients, "messages": counts}
    print(
        json.dumps(report, ensure_ascii=False)
        if args.json
        else f"broadcast {broadcast.id}: {broadcast.status}, {broadcast.recipients} recipient(s); "
        + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing queued yet")
    )
    return 0


def _no_notice(broadcast_id: int) -> int:
    print(f"broadcast: no notice with id {broadcast_id}", file=sys.stderr)
    return 2


async def _send(session, settings: Settings, args: argparse.Namespace) -> int:
    statuses = [s.strip() for s in args.status.split(",") if s.strip()]
    unknown = [s for s in statuses if s not in HouseholdStatus.__members__]
    if unknown:
        print(f"broadcast: unknown --status {', '.join(unknown)} (use {', '.join(HouseholdStatus)})", file=sys.stderr)
        return 2
    now = utc_now()
    try:
        send_at = datetime.strptime(args.at, "%Y-%m-%d %H:%M").replace(tzinfo=settings.tz) if args.at else now
    except ValueError:
        print('broadcast: --at must look like "2026-12-01 08:00" (local time)', file=sys.stderr)
        return 2
    try:
        buttons = await _buttons(session, args.faq, args.story)
        if args.quiz:
            buttons.append(broadcast_button(Catalogs(settings.tz, settings.default_locale)))
    except LookupError as exc:
        print(f"broadcast: {exc}", file=sys.stderr)
        return 2
    image = None
    if args.image is not None:
        try:
            image = _keep_image(args.image, settings)
        except ValueError as exc:
            print(f"broadcast: --image {exc}", file=sys.stderr)
            return 2
    target = {"areas": args.area, "statuses": statuses, "locales": args.locale}
    reach = await broadcasts.count_recipients(session, target, settings.default_locale)
    if args.preview:
        print(f"{reach} citizen(s) would receive it")
        return 0
    texts = {"vi": args.text, **({"en": args.text_en} if args.text_en else {})}
    broadcast = await broadcasts.create_broadcast(
        session,
        texts=texts,
        target=target,
        send_at=send_at,
        now=now,
        urgent=args.urgent,
        author="cli",
        buttons=buttons,
        image=image,
    )
    await audit.record(
        session,
        None,
        "broadcast.create",
        now=now,
        actor="cli",
        object_type="broadcast",
        object_id=str(broadcast.id),
        target=target,
        urgent=args.urgent,
        send_at=send_at.isoformat(),
    )
    await session.commit()
    when = "now" if not args.at else f"at {args.at}"
    print(broadcast.id)
    print(
        f"broadcast {broadcast.id} will go {when} to about {reach} citizen(s) (the running bot sends it)",
        file=sys.stderr,
    )
    return 0


async def _buttons(session, faq_ids: list[str], story_ids: list[str]) -> list[list[dict]]:
    """One button row per FAQ entry or story named, labelled in each language."""
    from content.importer import load_bundle

    bundle = await load_bundle(session)
    rows = []
    for faq_id in faq_ids:
        entry = bundle.faq_by_id.get(faq_id)
        if entry is None:
            raise LookupError(f"no FAQ entry {faq_id!r}")
        rows.append(
            [
                {
                    "labels": {loc: "❓ " + text.question[:60] for loc, text in entry.texts.items()},
                    "action": f"faq:show:{faq_id}",
                }
            ]
        )
    stories = {item.id: item for item in bundle.stories}
    for story_id in story_ids:
        item = stories.get(story_id)
        if item is None:
            raise LookupError(f"no story {story_id!r}")
        rows.append(
            [
                {
                    "labels": {loc: "📖 " + text.title[:60] for loc, text in item.texts.items()},
                    "action": f"story:{story_id}",
                }
            ]
        )
    return rows


IMAGE_TYPES = {b"\xff\xd8\xff": ".jpg", b"\x89PNG": ".png"}
MAX_IMAGE = 10_000_000


def _keep_image(source: Path, settings: Settings) -> str:
    """Copy a photo into DATA_DIR/media/broadcasts; return its path relative to DATA_DIR."""
    if not source.is_file():
        raise ValueError(f"{source}: no such file")
    head = source.read_bytes()[:4]
    extension = next((ext for magic, ext in IMAGE_TYPES.items() if head.startswith(magic)), None)
    if extension is None:
        raise ValueError(f"{source}: only JPEG and PNG photos can be sent")
    if source.stat().st_size > MAX_IMAGE:
        raise ValueError(f"{source}: larger than 10 MB")
    relative = Path("media") / "broadcasts" / f"{uuid.uuid4().hex}{extension}"
    target = settings.data_dir / relative
    write_private(target, source.read_bytes())  # at most MAX_IMAGE
    return str(relative)
