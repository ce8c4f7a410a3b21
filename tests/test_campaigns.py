"""Recurring campaigns: validation, occurrences, exactly-once broadcasts, catch-up and the scheduler jobs."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import select

from bot.campaigns import catch_up, fire, run_occurrence, schedule
from bot.config import Settings
from content.areas import read_area_records
from content.campaigns import (
    Campaign, format_weekday_date, last_occurrence_before, load_campaigns, occurrences, parse_campaigns, trigger,
)
from content.loader import ContentInvalid
from storage.db import SessionFactory, create_engine, session_factory
from storage.models import Broadcast, BroadcastStatus

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
GRACE = timedelta(hours=6)


def local(year: int, month: int, day: int, hour: int = 8, minute: int = 0) -> datetime:
    """A wall-clock time in Việt Nam."""
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def days(start: date, end: date) -> list[date]:
    """Every day from start to end, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


@pytest.fixture(scope="module")
def shipped() -> dict[str, Campaign]:
    """The shipped campaigns, validated against the shipped areas."""
    return {c.id: c for c in load_campaigns(area_codes=[r.code for r in read_area_records()])}


def valid_entry(**changes: object) -> dict:
    """A correct campaign entry with some fields changed (None removes a field)."""
    entry: dict = {
        "id": "test-campaign",
        "title": {"vi": "Chiến dịch thử", "en": "Test campaign"},
        "texts": {"vi": "{date}\nKính chào bà con, đây là thông báo thử.", "en": "{date}\nHello, this is a test notice."},
        "every": "monday",
        "at": "08:00",
    }
    for key, value in changes.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    return entry


def errors_of(*entries: dict, area_codes: list[str] | None = None) -> list[str]:
    """The error lines of a campaigns document made of these entries."""
    with pytest.raises(ContentInvalid) as caught:
        parse_campaigns({"campaigns": list(entries)}, area_codes=area_codes)
    return [str(error) for error in caught.value.errors]


# ------------------------------------------------------------------------------ validation


def test_shipped_campaigns_load_with_both_languages(shipped: dict[str, Campaign]) -> None:
    assert set(shipped) == {"peak-month", "poverty-review"}
    for campaign in shipped.values():
        assert campaign.texts["vi"] and campaign.texts["en"]
        assert campaign.urgent is False
        assert campaign.target == {"areas": [], "statuses": [], "locales": []}
    assert "Mẫu số 01" in shipped["poverty-review"].texts["vi"]
    assert "UBND xã" in shipped["poverty-review"].texts["vi"]
    assert "/phananh" in shipped["poverty-review"].texts["vi"]
    assert "Tháng cao điểm “Vì người nghèo”" in shipped["peak-month"].texts["vi"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"id": "Peak_Month"}, "Peak_Month / id: Value error, must be lower-case kebab-case"),
        ({"texts": {"en": "English only, no Vietnamese"}}, "test-campaign / texts.vi: Field required"),
        ({"texts": {"vi": "{date} {ngay} Kính chào bà con"}}, "test-campaign / texts.vi: unknown placeholder {ngay}"),
        ({"every": "mondays"}, "test-campaign / every: must be a weekday"),
        ({"every": [0, 15]}, "test-campaign / every: days of the month must be between 1 and 31"),
        ({"at": "8h"}, 'test-campaign / at: must be a time of day as HH:MM'),
        ({"at": None}, "test-campaign / at: missing"),
        ({"from": "17/10", "to": "11-18"}, 'test-campaign / from: must be a day of the year as MM-DD'),
        ({"from": "02-29", "to": "03-01"}, "test-campaign / from: 02-29 is not a day of every year"),
        ({"from": "10-17", "to": "13-01"}, "test-campaign / to: 13-01 is not a day of the year"),
        ({"from": "10-17"}, "test-campaign / to: missing: from and to go together"),
        ({"cron": {"hour": 8, "minute": 0}}, "test-campaign / cron: give either cron or every/at, not both"),
        ({"every": None, "at": None}, "test-campaign / cron: missing: give cron or every/at"),
        ({"every": None, "at": None, "cron": {"day_of_week": "funday", "hour": 8, "minute": 0}}, "test-campaign / cron.day_of_week:"),
        ({"every": None, "at": None, "cron": {"hour": 8, "minute": "*"}}, "test-campaign / cron.minute: must list exact values"),
        ({"every": None, "at": None, "cron": {"day": 1}}, "test-campaign / cron.hour: missing"),
        ({"every": [31], "from": "02-01", "to": "02-28"}, "test-campaign / every: never falls between from and to"),
        ({"target": {"statuses": ["rich"]}}, "test-campaign / target.statuses.0: Input should be"),
        ({"target": {"locales": ["fr"]}}, "test-campaign / target.locales.0: Input should be 'vi' or 'en'"),
        ({"urgent": "maybe"}, "test-campaign / urgent: Input should be a valid boolean"),
        ({"colour": "red"}, "test-campaign / colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_entries_name_file_entry_and_field(changes: dict, expected: str) -> None:
    lines = errors_of(valid_entry(**changes))
    assert any(line.startswith("campaigns.yaml: ") and expected in line for line in lines), lines


def test_unknown_area_and_duplicate_id_are_reported_together() -> None:
    lines = errors_of(
        valid_entry(target={"areas": ["99999"]}), valid_entry(), area_codes=[r.code for r in read_area_records()]
    )
    assert "campaigns.yaml: test-campaign / target.areas: unknown area code '99999'" in lines
    assert "campaigns.yaml: test-campaign / id: used by another campaign" in lines


def test_load_reports_bad_yaml_and_missing_list(tmp_path: Path) -> None:
    broken = tmp_path / "campaigns.yaml"
    broken.write_text("campaigns: [\n", encoding="utf-8")
    with pytest.raises(ContentInvalid, match="campaigns.yaml: not valid YAML"):
        load_campaigns(broken)
    broken.write_text("campaign: []\n", encoding="utf-8")
    with pytest.raises(ContentInvalid, match="campaigns.yaml: campaigns: missing: expected a list"):
        load_campaigns(broken)


# ----------------------------------------------------------------------------- occurrences


def test_peak_month_2026_is_every_monday_from_17_october_to_18_november(shipped: dict[str, Campaign]) -> None:
    mondays = [d for d in days(date(2026, 10, 17), date(2026, 11, 18)) if d.weekday() == 0]
    expected = [datetime.combine(d, time(8, 0), TZ).astimezone(UTC) for d in mondays]
    found = occurrences(shipped["peak-month"], local(2026, 1, 1, 0), local(2027, 1, 1, 0), TZ)
    assert found == expected
    assert [o.astimezone(TZ).strftime("%d/%m") for o in found] == ["19/10", "26/10", "02/11", "09/11", "16/11"]
    assert all(o.tzinfo is UTC for o in found)


def test_poverty_review_runs_on_the_1st_and_15th_from_1_september_to_14_december(shipped: dict[str, Campaign]) -> None:
    found = occurrences(shipped["poverty-review"], local(2026, 1, 1, 0), local(2027, 1, 1, 0), TZ)
    wanted = [(9, 1), (9, 15), (10, 1), (10, 15), (11, 1), (11, 15), (12, 1)]
    assert found == [local(2026, m, d).astimezone(UTC) for m, d in wanted]


def test_window_over_the_new_year_and_last_occurrence() -> None:
    (campaign,) = parse_campaigns({"campaigns": [valid_entry(every="day", at="07:30", **{"from": "12-30", "to": "01-02"})]})
    found = occurrences(campaign, local(2026, 6, 1), local(2027, 6, 1), TZ)
    assert [o.astimezone(TZ).date() for o in found] == days(date(2026, 12, 30), date(2027, 1, 2))
    assert last_occurrence_before(campaign, local(2027, 6, 1), TZ) == local(2027, 1, 2, 7, 30).astimezone(UTC)
    assert last_occurrence_before(campaign, local(2027, 1, 1, 7, 30), TZ) == local(2027, 1, 1, 7, 30).astimezone(UTC)


def test_dates_in_texts_are_formatted_with_babel(shipped: dict[str, Campaign]) -> None:
    assert format_weekday_date(local(2026, 10, 19), "vi", TZ) == "Thứ Hai, 19/10/2026"
    assert format_weekday_date(local(2026, 10, 19), "en", TZ) == "Monday, 19/10/2026"
    # 23:30 UTC on Sunday is already Monday in Việt Nam.
    assert format_weekday_date(datetime(2026, 10, 18, 23, 30, tzinfo=UTC), "vi", TZ) == "Thứ Hai, 19/10/2026"


# --------------------------------------------------------------------------- broadcasts


async def broadcasts(sessions: SessionFactory) -> list[Broadcast]:
    """Every broadcast in the database."""
    async with sessions() as session:
        return list((await session.exec(select(Broadcast))).all())


async def test_fire_twice_creates_one_broadcast(sessions: SessionFactory, shipped: dict[str, Campaign]) -> None:
    campaign = shipped["peak-month"]
    occurrence = local(2026, 10, 19).astimezone(UTC)
    now = occurrence + timedelta(seconds=1)
    assert await fire(sessions, campaign, occurrence, now) is True
    assert await fire(sessions, campaign, occurrence, now) is False
    (made,) = await broadcasts(sessions)
    assert made.campaign == "peak-month"
    assert made.occurrence_key == "campaign:peak-month:2026-10-19T01:00:00+00:00"
    assert made.send_at == occurrence and made.status == BroadcastStatus.scheduled
    assert made.texts["vi"].startswith("Thứ Hai, 19/10/2026\nKính chào bà con!")
    assert "Tháng cao điểm “Vì người nghèo” năm 2026" in made.texts["vi"]
    assert made.texts["en"].startswith("Monday, 19/10/2026\n")


async def test_fire_from_two_processes_at_once_creates_one_broadcast(
    sessions: SessionFactory, settings: Settings, shipped: dict[str, Campaign]
) -> None:
    campaign = shipped["poverty-review"]
    occurrence = local(2026, 9, 15).astimezone(UTC)
    other_engine = create_engine(settings.database_url)  # a second process: its own engine and connection
    try:
        results = await asyncio.gather(
            fire(sessions, campaign, occurrence, occurrence),
            fire(session_factory(other_engine), campaign, occurrence, occurrence),
            fire(sessions, campaign, occurrence, occurrence),
        )
    finally:
        await other_engine.dispose()
    assert sorted(results) == [False, False, True]
    assert len(await broadcasts(sessions)) == 1


async def test_catch_up_fires_a_recent_miss_once_and_skips_an_old_one(
    sessions: SessionFactory, shipped: dict[str, Campaign]
) -> None:
    peak = shipped["peak-month"]
    missed = local(2026, 10, 26).astimezone(UTC)
    report = await catch_up(sessions, [peak], TZ, missed + timedelta(hours=2), GRACE)
    assert report == [f"fired campaign:peak-month:{missed.isoformat()}"]
    assert await catch_up(sessions, [peak], TZ, missed + timedelta(hours=3), GRACE) == []

    old = local(2026, 11, 2).astimezone(UTC)
    report = await catch_up(sessions, [peak], TZ, old + timedelta(days=2), GRACE)
    assert report == [f"skipped campaign:peak-month:{old.isoformat()}: 2 days, 0:00:00 late"]
    assert [b.send_at for b in await broadcasts(sessions)] == [missed]


# ---------------------------------------------------------------------------- scheduler


async def test_one_job_per_campaign_with_the_next_occurrence_as_next_run(
    sessions: SessionFactory, shipped: dict[str, Campaign]
) -> None:
    scheduler = AsyncIOScheduler(timezone=TZ)
    jobs = schedule(scheduler, sessions, list(shipped.values()), TZ, lambda: datetime.now(UTC), GRACE)
    scheduler.start(paused=True)  # computes next run times; paused, so nothing runs and nothing waits
    try:
        now = datetime.now(TZ)
        by_id = {job.id: scheduler.get_job(job.id) for job in jobs}
        assert set(by_id) == {"campaign:peak-month", "campaign:poverty-review"}
        upcoming_mondays = (
            datetime.combine(d, time(8, 0), TZ) for d in days(now.date(), now.date() + timedelta(days=400))
            if d.weekday() == 0 and (10, 17) <= (d.month, d.day) <= (11, 18)
        )
        assert by_id["campaign:peak-month"].next_run_time == next(t for t in upcoming_mondays if t > now)
        review_days = (
            datetime.combine(d, time(8, 0), TZ) for d in days(now.date(), now.date() + timedelta(days=400))
            if d.day in (1, 15) and (9, 1) <= (d.month, d.day) <= (12, 14)
        )
        assert by_id["campaign:poverty-review"].next_run_time == next(t for t in review_days if t > now)
    finally:
        scheduler.shutdown(wait=False)


def test_trigger_moves_on_to_the_next_window(shipped: dict[str, Campaign]) -> None:
    when = trigger(shipped["peak-month"], TZ)
    assert when.get_next_fire_time(None, local(2026, 10, 1)) == local(2026, 10, 19)
    assert when.get_next_fire_time(local(2026, 11, 16), local(2026, 11, 16, 8, 1)) == local(2027, 10, 18)


async def test_the_job_creates_the_occurrence_that_is_due(sessions: SessionFactory, shipped: dict[str, Campaign]) -> None:
    scheduler = AsyncIOScheduler(timezone=TZ)
    moments = [local(2026, 10, 19, 8, 0), local(2026, 10, 19, 8, 5), local(2026, 10, 22)]
    (job,) = schedule(scheduler, sessions, [shipped["peak-month"]], TZ, lambda: moments.pop(0), GRACE)
    assert job.func is run_occurrence
    assert await job.func(*job.args) is True  # on time
    assert await job.func(*job.args) is False  # run again: already there
    assert await job.func(*job.args) is False  # three days late: too late
    assert [b.send_at for b in await broadcasts(sessions)] == [local(2026, 10, 19).astimezone(UTC)]

