"""Database tables (SQLModel). Times are stored as aware UTC datetimes."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _utc_column(nullable: bool = True, index: bool = False) -> Any:
    """A timezone-aware datetime column."""
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class AreaLevel(StrEnum):
    """Administrative level of an area."""

    province = "province"
    commune = "commune"


class HouseholdStatus(StrEnum):
    """What the citizen said about their household (hộ nghèo, hộ cận nghèo, …)."""

    poor = "poor"
    near_poor = "near_poor"
    escaped = "escaped"
    other = "other"
    unknown = "unknown"


class Area(SQLModel, table=True):
    """An administrative unit: the province, or a commune (xã) or ward (phường)."""

    code: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=120)
    level: str = Field(max_length=16, index=True)
    kind: str = Field(default="", max_length=16)
    parent_code: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("area.code"), nullable=True, index=True)
    )
    former_district: str = Field(default="", max_length=200)


class Citizen(SQLModel, table=True):
    """One person on one channel. Personal fields stay empty until consent."""

    __table_args__ = (
        UniqueConstraint("channel", "channel_user_id", name="uq_citizen_channel_user"),
        # Who receives notices, counted per commune from the index alone (storage/stats.py subscribers_by_area).
        Index("ix_citizen_reachable", "area_code", "subscribed", "consent_at", "unreachable_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    channel_user_id: str = Field(max_length=128)
    display_name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=8)
    area_code: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("area.code"), nullable=True, index=True)
    )
    household_status: str = Field(default=HouseholdStatus.unknown, max_length=16)
    subscribed: bool = Field(default=False)
    consent_at: datetime | None = _utc_column()
    unreachable_at: datetime | None = _utc_column()
    created_at: datetime = _utc_column(nullable=False)
    last_seen_at: datetime = _utc_column(nullable=False)


class Conversation(SQLModel, table=True):
    """Where a citizen is in a multi-step flow: a named state and a small JSON payload."""

    citizen_id: int = Field(sa_column=Column(ForeignKey("citizen.id", ondelete="CASCADE"), primary_key=True))
    state: str = Field(max_length=64)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _utc_column(nullable=False)
    expires_at: datetime | None = _utc_column(index=True)  # an expired state is deleted (storage/prune.py)


class TopicRow(SQLModel, table=True):
    """A topic for browsing the FAQ."""

    __tablename__ = "topic"

    id: str = Field(primary_key=True, max_length=64)
    titles: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    position: int = 0


class FaqRow(SQLModel, table=True):
    """An FAQ entry; `texts` holds each locale's question, alternatives, keywords and answer."""

    __tablename__ = "faq_entry"

    id: str = Field(primary_key=True, max_length=100)
    topic: str = Field(max_length=64, index=True)
    texts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    sources: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    valid_from: date | None = None
    valid_until: date | None = None
    replaced_by: str | None = Field(default=None, max_length=100)
    reviewed_on: date | None = None
    needs_review: bool = False
    published: bool = True
    image: str | None = Field(default=None, max_length=300)
    audio: str | None = Field(default=None, max_length=300)
    position: int = 0
    updated_at: datetime = _utc_column(nullable=False)
    edited_at: datetime | None = _utc_column()  # last saved in the dashboard; `content import` leaves it alone


class StoryRow(SQLModel, table=True):
    """A story of a household that escaped poverty."""

    __tablename__ = "story"

    id: str = Field(primary_key=True, max_length=100)
    texts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    commune: str | None = Field(default=None, max_length=16)
    tags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    image: str | None = Field(default=None, max_length=300)
    published: bool = True
    illustrative: bool = False
    position: int = 0
    updated_at: datetime = _utc_column(nullable=False)
    edited_at: datetime | None = _utc_column()  # as FaqRow.edited_at
    # A real story published from a nomination: who consented and when, as citizens read it, and
    # its photos (resized, without location metadata) under DATA_DIR/stories; None for the others.
    consent: str | None = Field(default=None, max_length=300)
    photos: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class FaqUsageRow(SQLModel, table=True):
    """FAQ counters per hour (UTC) and the asker's commune ("" when not known), for figures by period and area."""

    __tablename__ = "faq_usage"

    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    area_code: str = Field(default="", primary_key=True, max_length=16)
    faq_id: str = Field(primary_key=True, max_length=100)
    shown: int = 0
    helpful: int = 0
    unhelpful: int = 0


class FaqUsageSpan(SQLModel, table=True):
    """A local day, or a local month, whose FAQ counters are summed in `faq_usage_summary`, with its
    bounds in UTC (storage/faq_summary.py). Spans never overlap; a month is the sum of its days."""

    __tablename__ = "faq_usage_span"

    span: str = Field(primary_key=True, max_length=8)  # "day" or "month"
    day: date = Field(primary_key=True)  # the local day, or the first day of the month
    starts_at: datetime = _utc_column(nullable=False)
    ends_at: datetime = _utc_column(nullable=False)
    made_at: datetime = _utc_column(nullable=False)


class FaqUsageSummary(SQLModel, table=True):
    """The FAQ counters of one span (`faq_usage_span`) per commune ("" when not known) and entry:
    the sums of the hourly rows of `faq_usage` in it; "*" as the commune or the entry: every one
    together. Keyed commune first, and indexed entry first, so a reader of one commune, or of
    every commune together ("*"), or of every entry together, reads only those rows."""

    __tablename__ = "faq_usage_summary"
    __table_args__ = (Index("ix_faq_usage_summary_entry", "span", "faq_id", "day"),)

    span: str = Field(primary_key=True, max_length=8)
    area_code: str = Field(default="", primary_key=True, max_length=16)
    day: date = Field(primary_key=True)
    faq_id: str = Field(primary_key=True, max_length=100)
    shown: int = 0
    helpful: int = 0
    unhelpful: int = 0


class UnansweredQuestion(SQLModel, table=True):
    """A question the bot could not answer, counted by its normalised form, for staff to review."""

    __tablename__ = "unanswered_question"
    __table_args__ = (UniqueConstraint("key", name="uq_unanswered_key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=500)
    text: str = Field(max_length=1000)
    locale: str = Field(default="vi", max_length=8)
    count: int = 1
    forwarded: int = 0
    first_asked_at: datetime = _utc_column(nullable=False)
    last_asked_at: datetime = _utc_column(nullable=False, index=True)


class TicketKind(StrEnum):
    """What a citizen sends (phản ánh, kiến nghị, khiếu nại, …)."""

    question = "question"
    feedback = "feedback"
    suggestion = "suggestion"
    complaint = "complaint"
    problem = "problem"


class TicketStatus(StrEnum):
    """A ticket's life: new → assigned → in_progress → answered → closed, or rejected."""

    new = "new"
    assigned = "assigned"
    in_progress = "in_progress"
    answered = "answered"
    closed = "closed"
    rejected = "rejected"


class EventKind(StrEnum):
    """What happened on a ticket; `public` events are shown to the citizen."""

    created = "created"
    citizen_message = "citizen_message"
    reply = "reply"
    note = "note"
    status = "status"
    assignment = "assignment"
    rating = "rating"


class StaffRole(StrEnum):
    """admin: everything; province: all areas; commune: their own area only."""

    admin = "admin"
    province = "province"
    commune = "commune"


class Staff(SQLModel, table=True):
    """A staff account (dashboard login; optionally linked to a chat account for in-chat tools)."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=200)
    role: str = Field(max_length=16)
    area_code: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("area.code"), nullable=True, index=True)
    )
    password_hash: str = Field(default="", max_length=300)
    must_change_password: bool = False  # a one-time password an admin set: changed at the next sign-in
    active: bool = True
    chat_channel: str | None = Field(default=None, max_length=16)
    chat_user_id: str | None = Field(default=None, max_length=128, index=True)
    link_code_hash: str | None = Field(default=None, max_length=128)
    link_code_expires_at: datetime | None = _utc_column()
    chat_linked_at: datetime | None = _utc_column()  # a link made from the web chat ends like a staff session:
    chat_link_seen_at: datetime | None = _utc_column()  # after STAFF_SESSION_HOURS, or SESSION_IDLE unused
    failed_logins: int = 0
    locked_until: datetime | None = _utc_column()
    last_login_at: datetime | None = _utc_column()
    created_at: datetime = _utc_column(nullable=False)


class Ticket(SQLModel, table=True):
    """A citizen's feedback, question or complaint, tracked by a short code until answered."""

    # Closed and rejected tickets by their last change: whose media the prune deletes (storage/prune.py).
    __table_args__ = (
        Index("ix_ticket_status_updated", "status", "updated_at"),
        # Open and overdue tickets counted from the index alone (the overview, the overdue inbox).
        Index("ix_ticket_status_due", "status", "due_at"),
        # The ticket figures of a period (storage/stats.py ticket_summary) read from the index alone.
        Index(
            "ix_ticket_figures",
            "created_at",
            "kind",
            "area_code",
            "status",
            "due_at",
            "answered_at",
            "rating",
            "resolved",
        ),
        # The few tickets still without search text (storage/inbox.py), found without a scan.
        Index(
            "ix_ticket_search_pending",
            "id",
            sqlite_where=text("search_text IS NULL"),
            postgresql_where=text("search_text IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    kind: str = Field(max_length=16, index=True)
    topic: str = Field(default="", max_length=64)
    citizen_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("citizen.id", ondelete="SET NULL"), nullable=True, index=True)
    )
    area_code: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("area.code"), nullable=True, index=True)
    )
    status: str = Field(default=TicketStatus.new, max_length=16, index=True)
    anonymous: bool = False
    reporter_name: str | None = Field(default=None, max_length=200)
    body: str = Field(max_length=4096)
    latitude: float | None = None
    longitude: float | None = None
    locale: str = Field(default="vi", max_length=8)
    assignee_id: int | None = Field(default=None, foreign_key="staff.id")
    reject_reason: str | None = Field(default=None, max_length=1000)
    rating: int | None = None
    resolved: bool | None = None
    created_at: datetime = _utc_column(nullable=False, index=True)
    due_at: datetime = _utc_column(nullable=False, index=True)
    answered_at: datetime | None = _utc_column()
    closed_at: datetime | None = _utc_column()
    updated_at: datetime = _utc_column(nullable=False)
    # Code, topic and message folded (no diacritics, lower case) for the dashboard's search;
    # filled lazily by storage.inbox, never holds the sender's name.
    search_text: str | None = Field(default=None, max_length=4200)


class TicketEvent(SQLModel, table=True):
    """One entry of a ticket's timeline: who did what, when."""

    __tablename__ = "ticket_event"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(sa_column=Column(ForeignKey("ticket.id", ondelete="CASCADE"), nullable=False, index=True))
    kind: str = Field(max_length=24)
    public: bool = False
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    from_citizen: bool = False
    text: str = Field(default="", max_length=4096)
    old_status: str | None = Field(default=None, max_length=16)
    new_status: str | None = Field(default=None, max_length=16)
    created_at: datetime = _utc_column(nullable=False)


class TicketAttachment(SQLModel, table=True):
    """A file a citizen sent with a ticket, kept under DATA_DIR/media."""

    __tablename__ = "ticket_attachment"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(sa_column=Column(ForeignKey("ticket.id", ondelete="CASCADE"), nullable=False, index=True))
    event_id: int | None = Field(default=None, foreign_key="ticket_event.id")
    kind: str = Field(max_length=16)
    path: str = Field(max_length=300)
    mime_type: str = Field(default="", max_length=100)
    size: int = 0
    created_at: datetime = _utc_column(nullable=False)


class OutboxStatus(StrEnum):
    """pending → sending → sent | failed | skipped."""

    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"


class OutboxMessage(SQLModel, table=True):
    """A message to a citizen that is not the direct reply to what they sent (ticket replies,
    notices, reminders), delivered by the per-channel sender."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe"),
        # The citizens a notice reached, read from the index alone (storage/tally.py).
        Index("ix_outbox_notice_reach", "broadcast_id", "area_code", "status", "citizen_id"),
        # The messages whose payload is still kept, by status and finish time: what the nightly
        # prune looks through (storage/prune.py), never the millions of rows already done.
        Index(
            "ix_outbox_payload_kept",
            "status",
            "sent_at",
            "next_attempt_at",
            sqlite_where=text("payload_dropped_at IS NULL"),
            postgresql_where=text("payload_dropped_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    citizen_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("citizen.id", ondelete="CASCADE"), nullable=True, index=True)
    )
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=128)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    priority: int = Field(default=5, index=True)
    status: str = Field(default=OutboxStatus.pending, max_length=16, index=True)
    reason: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    next_attempt_at: datetime = _utc_column(nullable=False, index=True)
    error: str | None = Field(default=None, max_length=1000)
    dedupe_key: str | None = Field(default=None, max_length=200)
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id", index=True)
    bulk: bool = False
    created_at: datetime = _utc_column(nullable=False)
    sent_at: datetime | None = _utc_column()
    holder: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # see storage.holders
    # A notice's recipient's commune when it was queued ("" unknown), filled by the database (storage/tally.py).
    area_code: str | None = Field(default=None, max_length=16)
    # When the prune replaced the payload of this finished message by {} (RETENTION_OUTBOX_PAYLOAD_DAYS).
    payload_dropped_at: datetime | None = _utc_column()


class NoticeTally(SQLModel, table=True):
    """How many messages of a notice are in each outbox status (and reason), per commune of the
    recipient and hour the message was queued. Database triggers on `outbox` journal every change
    in `notice_tally_change`, in the same transaction; the scheduler folds the journal in here.
    Readers add the two (storage/tally.py)."""

    __tablename__ = "notice_tally"

    broadcast_id: int = Field(sa_column=Column(ForeignKey("broadcast.id", ondelete="CASCADE"), primary_key=True))
    area_code: str = Field(default="", primary_key=True, max_length=16)
    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True, index=True))
    status: str = Field(primary_key=True, max_length=16)
    reason: str = Field(default="", primary_key=True, max_length=200)
    count: int = 0


class NoticeTallyChange(SQLModel, table=True):
    """One notice message changing status (old None: queued; new None: deleted), written by the
    database triggers on `outbox`, folded into `notice_tally` and deleted by the scheduler."""

    __tablename__ = "notice_tally_change"

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(index=True)
    area_code: str = Field(default="", max_length=16)
    hour: datetime = _utc_column(nullable=False)
    old_status: str | None = Field(default=None, max_length=16)
    old_reason: str | None = Field(default=None, max_length=200)
    new_status: str | None = Field(default=None, max_length=16)
    new_reason: str | None = Field(default=None, max_length=200)


class AuditEntry(SQLModel, table=True):
    """Who did what, when, to which object: staff actions and every view of a hidden identity."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc_column(nullable=False, index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    actor: str = Field(default="", max_length=64)
    action: str = Field(max_length=40, index=True)
    object_type: str = Field(default="", max_length=40)
    object_id: str = Field(default="", max_length=64)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class BroadcastStatus(StrEnum):
    """scheduled → queued (recipients in the outbox) → done, or cancelled."""

    scheduled = "scheduled"
    queued = "queued"
    done = "done"
    cancelled = "cancelled"


class Broadcast(SQLModel, table=True):
    """A notice to the subscribed citizens of some areas, household statuses and languages."""

    id: int | None = Field(default=None, primary_key=True)
    texts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    image: str | None = Field(default=None, max_length=300)
    buttons: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    target: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    urgent: bool = False
    status: str = Field(default=BroadcastStatus.scheduled, max_length=16, index=True)
    send_at: datetime = _utc_column(nullable=False, index=True)
    author_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    author: str = Field(default="", max_length=64)
    campaign: str | None = Field(default=None, max_length=100)
    occurrence_key: str | None = Field(default=None, max_length=200, unique=True)
    recipients: int = 0
    created_at: datetime = _utc_column(nullable=False)
    queued_at: datetime | None = _utc_column()


class CampaignRow(SQLModel, table=True):
    """A recurring campaign as stored (imported from content/campaigns.yaml, editable later)."""

    __tablename__ = "campaign"

    id: str = Field(primary_key=True, max_length=100)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    active: bool = True
    position: int = 0
    updated_at: datetime = _utc_column(nullable=False)


class LoginFailure(SQLModel, table=True):
    """A failed dashboard sign-in: the name tried (existing or not) and the client's address, which
    login throttling counts and the dashboard warns admins about (storage/logins.py)."""

    __tablename__ = "login_failure"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc_column(nullable=False, index=True)
    username: str = Field(max_length=64, index=True)
    address: str = Field(max_length=64, index=True)


class AddressCount(SQLModel, table=True):
    """How often one client address did one limited thing (a new web chat identity, a report, an answer
    to one poll, a support of one question) in one period, an hour or a day: what the web chat's
    per-address limits count, shared by every web process (storage/address_limits.py). The address
    is a keyed hash; a row is pruned once its period has passed."""

    __tablename__ = "address_count"

    address: str = Field(primary_key=True, max_length=64)
    action: str = Field(primary_key=True, max_length=48)
    period: str = Field(primary_key=True, max_length=16)
    count: int = 0
    expires_at: datetime = _utc_column(nullable=False, index=True)


class StaffSession(SQLModel, table=True):
    """A dashboard login: the cookie holds a random token, the database only its hash."""

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_id: int = Field(sa_column=Column(ForeignKey("staff.id", ondelete="CASCADE"), nullable=False, index=True))
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _utc_column(nullable=False)
    last_seen_at: datetime = _utc_column(nullable=False)
    expires_at: datetime = _utc_column(nullable=False, index=True)


class ZaloOAToken(SQLModel, table=True):
    """The Zalo Official Account's current token pair. The refresh token is single-use: each refresh
    gives a new pair, saved here before it is used. `seed_hash` names the pair from the environment
    this row started from (a different one there replaces the row); `lease_until` is held by the
    process refreshing right now."""

    __tablename__ = "zalo_oa_token"

    app_id: str = Field(primary_key=True, max_length=64)
    access_token: str = Field(max_length=2000)
    refresh_token: str = Field(max_length=2000)
    expires_at: datetime | None = _utc_column()
    seed_hash: str = Field(default="", max_length=64)
    lease_until: datetime | None = _utc_column()
    holder: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # see storage.holders
    updated_at: datetime = _utc_column(nullable=False)


class ZaloInboxRow(SQLModel, table=True):
    """A webhook event of a Zalo channel (the Official Account, the Bot API), stored before Zalo is
    answered and handled from here, in arrival order (`id`) for each chat. Once handled its content
    is dropped and its key kept a few days, so that a redelivery is recognised; `lease_until` and
    `holder` name the process handling it (see storage.holders)."""

    __tablename__ = "zalo_inbox"
    __table_args__ = (
        UniqueConstraint("key", name="uq_zalo_inbox_key"),
        Index("ix_zalo_inbox_chat", "channel", "chat_id", "id"),  # a chat's earlier events not done yet
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    payload: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    received_at: datetime = _utc_column(nullable=False)
    lease_until: datetime | None = _utc_column()
    holder: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # see storage.holders
    done_at: datetime | None = _utc_column(index=True)


class TelegramInboxRow(SQLModel, table=True):
    """A Telegram update, stored before Telegram is told it arrived and kept until it is handled;
    its id stays a while longer (without the content) so that a redelivery is recognised."""

    __tablename__ = "telegram_inbox"

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    payload: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    received_at: datetime = _utc_column(nullable=False)
    lease_until: datetime | None = _utc_column()
    holder: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # see storage.holders
    done_at: datetime | None = _utc_column(index=True)


class QuizQuestionRow(SQLModel, table=True):
    """A question of the policy quiz ("Đố vui chính sách"), imported from content/quiz.yaml.
    `texts` holds per locale the question, 2-4 choices and a one-line explanation; `answer` is the
    index of the right choice; `faq_id` the FAQ entry the explanation comes from."""

    __tablename__ = "quiz_question"

    id: str = Field(primary_key=True, max_length=100)
    texts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    answer: int = 0
    faq_id: str = Field(default="", max_length=100)
    topic: str = Field(default="", max_length=64)
    published: bool = True
    position: int = 0
    updated_at: datetime = _utc_column(nullable=False)
    edited_at: datetime | None = _utc_column()  # as FaqRow.edited_at


class QuizContest(SQLModel, table=True):
    """A contest period: plays finished within it count on the leaderboard by commune."""

    __tablename__ = "quiz_contest"

    id: int | None = Field(default=None, primary_key=True)
    titles: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    starts_on: date
    ends_on: date
    announce_broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id")
    author: str = Field(default="", max_length=64)
    created_at: datetime = _utc_column(nullable=False)


class QuizPlay(SQLModel, table=True):
    """One round of the quiz by one citizen: the questions drawn, the answers given, the score.
    The commune is copied at the start so a leaderboard survives the citizen deleting their data."""

    __tablename__ = "quiz_play"

    id: int | None = Field(default=None, primary_key=True)
    citizen_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("citizen.id", ondelete="SET NULL"), nullable=True, index=True)
    )
    area_code: str | None = Field(default=None, max_length=16, index=True)
    contest_id: int | None = Field(default=None, foreign_key="quiz_contest.id", index=True)
    question_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    answers: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    score: int = 0
    public_name: str | None = Field(default=None, max_length=100)
    started_at: datetime = _utc_column(nullable=False, index=True)
    finished_at: datetime | None = _utc_column(index=True)


class QuizAnswerCount(SQLModel, table=True):
    """How many answers picked each choice of a question, over every round: counted as the answer is
    recorded, in the same transaction, so the figures need no round and outlive deleted rounds."""

    __tablename__ = "quiz_answer_count"

    question_id: str = Field(primary_key=True, max_length=100)
    choice: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    answers: int = 0


class PollStatus(StrEnum):
    """draft → open (delivered, answers taken) → closed (results sent back)."""

    draft = "draft"
    open = "open"
    closed = "closed"


class Poll(SQLModel, table=True):
    """A question staff put to citizens ("Ý kiến của bà con"): choices or free text, a target like
    a notice's, open and close times."""

    id: int | None = Field(default=None, primary_key=True)
    texts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    choices: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    free_text: bool = False
    target: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=PollStatus.draft, max_length=16, index=True)
    opens_at: datetime = _utc_column(nullable=False, index=True)
    closes_at: datetime = _utc_column(nullable=False, index=True)
    recipients: int = 0
    author_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    author: str = Field(default="", max_length=64)
    created_at: datetime = _utc_column(nullable=False)
    opened_at: datetime | None = _utc_column()
    results_sent_at: datetime | None = _utc_column()


class PollAnswer(SQLModel, table=True):
    """A citizen's answer to a poll, one per citizen (changeable until the poll closes). Commune,
    household status and channel are copied when answering, for results that outlive deletion."""

    __tablename__ = "poll_answer"
    __table_args__ = (UniqueConstraint("poll_id", "citizen_id", name="uq_poll_answer_citizen"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(sa_column=Column(ForeignKey("poll.id", ondelete="CASCADE"), nullable=False, index=True))
    citizen_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("citizen.id", ondelete="SET NULL"), nullable=True, index=True)
    )
    choice: int | None = None
    text: str | None = Field(default=None, max_length=1000)
    area_code: str | None = Field(default=None, max_length=16, index=True)
    household_status: str = Field(default=HouseholdStatus.unknown, max_length=16)
    channel: str = Field(default="", max_length=16)
    answered_at: datetime = _utc_column(nullable=False)
    updated_at: datetime = _utc_column(nullable=False)


class DialogueStatus(StrEnum):
    """announced (questions taken) → held → answered (answers published and sent)."""

    announced = "announced"
    held = "held"
    answered = "answered"


class Dialogue(SQLModel, table=True):
    """A policy dialogue ("Đối thoại chính sách") between officials and citizens: announced with a
    topic, date, officials and place; citizens send questions before it, staff publish answers after."""

    id: int | None = Field(default=None, primary_key=True)
    topics: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    officials: str = Field(default="", max_length=500)
    place: str = Field(default="", max_length=500)
    online_url: str = Field(default="", max_length=500)
    area_code: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("area.code"), nullable=True, index=True)
    )
    held_at: datetime = _utc_column(nullable=False, index=True)
    questions_close_at: datetime = _utc_column(nullable=False)
    status: str = Field(default=DialogueStatus.announced, max_length=16, index=True)
    summary: str = Field(default="", max_length=4000)
    author_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    author: str = Field(default="", max_length=64)
    created_at: datetime = _utc_column(nullable=False)
    answered_at: datetime | None = _utc_column()


class DialogueQuestion(SQLModel, table=True):
    """A question sent for a dialogue: the ticket (kind question) that carries it, and its upvotes."""

    __tablename__ = "dialogue_question"

    ticket_id: int = Field(sa_column=Column(ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True))
    dialogue_id: int = Field(
        sa_column=Column(ForeignKey("dialogue.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    votes: int = 0
    published: bool = True
    answer: str | None = Field(default=None, max_length=4000)
    answered_at: datetime | None = _utc_column()


class DialogueVote(SQLModel, table=True):
    """One citizen's upvote of one dialogue question."""

    __tablename__ = "dialogue_vote"

    ticket_id: int = Field(
        sa_column=Column(ForeignKey("dialogue_question.ticket_id", ondelete="CASCADE"), primary_key=True)
    )
    citizen_id: int = Field(sa_column=Column(ForeignKey("citizen.id", ondelete="CASCADE"), primary_key=True))
    voted_at: datetime = _utc_column(nullable=False)


class SelfCheckQuestionRow(SQLModel, table=True):
    """A yes/no question of the household self-check on one poverty indicator, imported from
    content/selfcheck.yaml; `data` holds it as the file writes it (wording per locale, deficit rule,
    sources, `needs_review`). Staff confirm or edit it in the dashboard (`edited_at` set)."""

    __tablename__ = "selfcheck_question"

    id: str = Field(primary_key=True, max_length=100)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    position: int = 0
    updated_at: datetime = _utc_column(nullable=False)
    edited_at: datetime | None = _utc_column()  # as FaqRow.edited_at


class SelfCheckCount(SQLModel, table=True):
    """Self-checks finished, counted by local day, commune ("" when not known) and outcome; no one's
    identity (a self-check without a request keeps nothing else)."""

    __tablename__ = "selfcheck_count"

    day: date = Field(primary_key=True)
    area_code: str = Field(default="", primary_key=True, max_length=16)
    outcome: str = Field(primary_key=True, max_length=16)
    count: int = 0


class SelfCheckRequest(SQLModel, table=True):
    """A household's request that the commune review it, sent after a self-check: the ticket (kind
    question, topic review) that carries it, with the answers and the result the household saw."""

    __tablename__ = "selfcheck_request"

    ticket_id: int = Field(sa_column=Column(ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True))
    area_code: str | None = Field(default=None, max_length=16, index=True)
    outcome: str = Field(max_length=16)
    answers: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc_column(nullable=False)


class NominationStatus(StrEnum):
    """A nomination's life: new → checking → published, or not_used (with a reason the nominator sees)."""

    new = "new"
    checking = "checking"
    published = "published"
    not_used = "not_used"


class Nomination(SQLModel, table=True):
    """A model household, group, cooperative or initiative a citizen put forward as a real story.

    `files` lists the photos and voice message kept under DATA_DIR/media (private); `consent` is what
    the sender said about the nominee being named and photographed (`self`, `self_unnamed`, or
    `ask_commune` when the nominee is someone else, whom only the commune asks)."""

    __tablename__ = "nomination"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    citizen_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("citizen.id", ondelete="SET NULL"), nullable=True, index=True)
    )
    nominee: str = Field(max_length=16)
    area_code: str | None = Field(
        default=None, sa_column=Column(String(16), ForeignKey("area.code"), nullable=True, index=True)
    )
    body: str = Field(max_length=4096)
    consent: str = Field(max_length=16)
    anonymous: bool = False
    nominator_name: str | None = Field(default=None, max_length=200)
    locale: str = Field(default="vi", max_length=8)
    files: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=NominationStatus.new, max_length=16, index=True)
    reason: str | None = Field(default=None, max_length=1000)
    story_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = _utc_column(nullable=False, index=True)
    updated_at: datetime = _utc_column(nullable=False)
    published_at: datetime | None = _utc_column()


class ReportJobStatus(StrEnum):
    """A report job's life: queued → running → done, or failed (with the reason in `error`)."""

    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class ReportJob(SQLModel, table=True):
    """A report workbook a staff member asked for, made in the background by the process that took
    the request (`holder`, see storage.holders) and kept as a private file under DATA_DIR until
    REPORT_FILES_DAYS after it was made. `area_code` None: the whole province."""

    __tablename__ = "report_job"
    __table_args__ = (Index("ix_report_job_staff", "staff_id", "id"),)  # a staff member's jobs, newest first

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id")
    preset: str = Field(default="custom", max_length=16)
    period_first: date
    period_last: date
    area_code: str | None = Field(default=None, max_length=16)
    locale: str = Field(default="vi", max_length=8)
    status: str = Field(default=ReportJobStatus.queued, max_length=16, index=True)
    steps_done: int = 0
    steps: int = 0
    step: str = Field(default="", max_length=32)
    holder: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    file_name: str | None = Field(default=None, max_length=200)  # relative to DATA_DIR
    size: int | None = None
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _utc_column(nullable=False)
    updated_at: datetime = _utc_column(nullable=False)  # the last step begun: a job long unchanged was abandoned
    started_at: datetime | None = _utc_column()
    finished_at: datetime | None = _utc_column()
