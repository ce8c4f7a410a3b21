"""Ticket rules: the life-cycle, tracking codes and working-day due dates, as properties."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.models import TicketKind, TicketStatus
from storage.ticket_rules import (
    CODE_ALPHABET,
    DEFAULT_DUE_DAYS,
    END_OF_DAY,
    FINAL,
    TRANSITIONS,
    InvalidTransition,
    add_working_days,
    can_transition,
    check_transition,
    first_counted_day,
    is_overdue,
    new_code,
    normalize_code,
    parse_due_days,
    parse_holidays,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
statuses = st.sampled_from(list(TicketStatus))
moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
holiday_sets = st.frozensets(st.dates(min_value=date(2025, 1, 1), max_value=date(2029, 6, 30)), max_size=40)
codes = st.text(alphabet=CODE_ALPHABET, min_size=6, max_size=6).map(lambda body: f"PA-{body}")


def test_every_status_has_its_transitions_and_final_states_are_empty() -> None:
    assert set(TRANSITIONS) == set(TicketStatus)
    assert FINAL == {TicketStatus.closed, TicketStatus.rejected}
    assert can_transition("answered", "in_progress") and not can_transition("closed", "in_progress")


@given(st.lists(statuses, max_size=30))
def test_attempted_transitions_stay_inside_the_life_cycle(attempts: list[TicketStatus]) -> None:
    state = TicketStatus.new
    for target in attempts:
        before = state
        try:
            check_transition(state, target)
            state = target
        except InvalidTransition:
            assert target not in TRANSITIONS[before]
        else:
            assert before not in FINAL and target in TRANSITIONS[before]
        assert state in TRANSITIONS
        if before in FINAL:
            assert state == before


def test_invalid_transition_message_is_clear() -> None:
    with pytest.raises(InvalidTransition, match="final"):
        check_transition(TicketStatus.closed, TicketStatus.in_progress)
    with pytest.raises(InvalidTransition, match="allowed: closed, in_progress"):
        check_transition(TicketStatus.answered, TicketStatus.new)


@given(moments, st.integers(min_value=1, max_value=40), holiday_sets)
def test_due_moment_is_17h_on_a_working_day_after_exactly_n_working_days(
    start: datetime, days: int, holidays: frozenset[date]
) -> None:
    due = add_working_days(start, days, tz=TZ, holidays=holidays)
    local = due.astimezone(TZ)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)
    assert local.time() == END_OF_DAY and local.weekday() < 5 and local.date() not in holidays
    first = first_counted_day(start, tz=TZ, holidays=holidays)
    span = [first + timedelta(days=offset) for offset in range((local.date() - first).days + 1)]
    assert sum(1 for day in span if day.weekday() < 5 and day not in holidays) == days
    assert due > start


@given(moments, st.integers(min_value=1, max_value=40), holiday_sets)
def test_more_days_never_give_an_earlier_due_moment(start: datetime, days: int, holidays: frozenset[date]) -> None:
    assert add_working_days(start, days, tz=TZ, holidays=holidays) < add_working_days(start, days + 1, tz=TZ, holidays=holidays)


@given(moments, st.integers(min_value=1, max_value=20), holiday_sets, st.dates(min_value=date(2025, 1, 1), max_value=date(2029, 6, 30)))
def test_a_holiday_never_makes_the_due_moment_earlier(
    start: datetime, days: int, holidays: frozenset[date], extra: date
) -> None:
    without = add_working_days(start, days, tz=TZ, holidays=holidays)
    assert add_working_days(start, days, tz=TZ, holidays=holidays | {extra}) >= without


@pytest.mark.parametrize(
    ("local_start", "days", "expected_local_day"),
    [
        (datetime(2026, 11, 27, 9, 0), 3, date(2026, 12, 1)),  # Friday morning counts: Fri, Mon, Tue
        (datetime(2026, 11, 27, 17, 0), 3, date(2026, 12, 2)),  # at 17:00 the day is over
        (datetime(2026, 11, 28, 10, 0), 1, date(2026, 11, 30)),  # Saturday: starts Monday
        (datetime(2026, 4, 29, 8, 0), 2, date(2026, 5, 4)),  # 30/4 and 1/5 are holidays
    ],
)
def test_due_dates_by_example(local_start: datetime, days: int, expected_local_day: date) -> None:
    holidays = parse_holidays("2026-04-30,2026-05-01")
    due = add_working_days(local_start.replace(tzinfo=TZ), days, tz=TZ, holidays=holidays)
    assert due.astimezone(TZ) == datetime.combine(expected_local_day, END_OF_DAY, tzinfo=TZ)


def test_overdue_only_while_waiting_for_staff() -> None:
    due = datetime(2026, 12, 1, 10, tzinfo=UTC)
    later = due + timedelta(minutes=1)
    assert is_overdue(due, TicketStatus.in_progress, later) and is_overdue(due, "new", later)
    assert not is_overdue(due, TicketStatus.in_progress, due)
    for status in (TicketStatus.answered, TicketStatus.closed, TicketStatus.rejected):
        assert not is_overdue(due, status, later)


def test_new_codes_use_the_look_alike_free_alphabet() -> None:
    assert not set("0O1ILUV") & set(CODE_ALPHABET)
    for _ in range(500):
        code = new_code()
        assert re.fullmatch(r"PA-[ABCDEFGHJKMNPQRSTWXYZ2-9]{6}", code)
        assert normalize_code(code) == code


@given(codes, st.sampled_from(["{}", "{} ", " {}"]), st.sampled_from(["-", "", " ", " - ", "."]), st.booleans())
def test_normalize_code_round_trips_typed_variants(code: str, padding: str, dash: str, lower: bool) -> None:
    typed = padding.format(code.replace("-", dash))
    assert normalize_code(typed.lower() if lower else typed) == code


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("pa7k3m9q", "PA-7K3M9Q"),
        ("PA 7K3M9Q", "PA-7K3M9Q"),
        ("pa-7k3m9q", "PA-7K3M9Q"),
        ("PÁ-7K3M9Q", "PA-7K3M9Q"),  # a Vietnamese keyboard put a tone mark on the A
        ("PA-7K3M9O", None),  # O could be 0, D or Q: no guessing
        ("PA-7K3M9", None),
        ("7K3M9Q", None),
        ("Xin chào", None),
    ],
)
def test_normalize_code_examples(typed: str, expected: str | None) -> None:
    assert normalize_code(typed) == expected


def test_a_bare_code_is_accepted_when_asked_for() -> None:
    assert normalize_code("7k3m9q", require_prefix=False) == "PA-7K3M9Q"


def test_due_days_setting() -> None:
    assert parse_due_days("") == DEFAULT_DUE_DAYS
    assert parse_due_days(" Question=2 , complaint=15 ")[TicketKind.question] == 2
    assert parse_due_days("complaint=15")[TicketKind.problem] == DEFAULT_DUE_DAYS[TicketKind.problem]
    for bad in ("question", "question=0", "question=x", "nonsense=3"):
        with pytest.raises(ValueError):
            parse_due_days(bad)


def test_holidays_setting() -> None:
    assert parse_holidays(" 2026-01-01, ,2026-04-30 ") == {date(2026, 1, 1), date(2026, 4, 30)}
    with pytest.raises(ValueError, match="2026-02-30"):
        parse_holidays("2026-01-01,2026-02-30")


def test_shipped_holidays_are_valid_and_the_defaults_cover_every_kind() -> None:
    from bot.config import DEFAULT_HOLIDAYS

    shipped = parse_holidays(DEFAULT_HOLIDAYS)
    assert {date(2026, 2, 17), date(2026, 9, 2), date(2027, 2, 6), date(2027, 4, 16)} <= shipped
    assert set(DEFAULT_DUE_DAYS) == set(TicketKind)
