"""The household self-check's computation: amounts as people write them, income per person per month,
and which line applies on which day (rural/urban, before and after 1/1/2027, households of 1–10)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from content.income import Income, Period, parse_income, parse_people, per_person_month
from content.selfcheck import Outcome, Zone, assess, in_review_season, load_selfcheck, zone_of

SELFCHECK = load_selfcheck()
ND07, ND351 = SELFCHECK.standards


@pytest.mark.parametrize(("typed", "dong", "period", "per_person"), [
    ("1tr2", 1_200_000, None, None),
    ("1 triệu 2", 1_200_000, None, None),
    ("1,2 triệu", 1_200_000, None, None),
    ("1.2tr", 1_200_000, None, None),
    ("1.200.000đ", 1_200_000, None, None),
    ("1.200.000 đồng", 1_200_000, None, None),
    ("1200k", 1_200_000, None, None),
    ("1 triệu rưỡi", 1_500_000, None, None),
    ("800 nghìn", 800_000, None, None),
    ("2.000.000", 2_000_000, None, None),
    ("15 triệu một năm", 15_000_000, Period.year, None),
    ("60tr/năm", 60_000_000, Period.year, None),
    ("mỗi tháng 3 triệu", 3_000_000, Period.month, None),
    ("2 tr/người", 2_000_000, None, True),
    ("mỗi người 1tr2 một tháng", 1_200_000, Period.month, True),
    ("lúa 15 triệu, làm thuê 10 triệu một năm", 25_000_000, Period.year, None),
    ("ca nha 4 trieu 1 thang", 4_000_000, Period.month, False),
    ("5 người, 1500", 1_500_000, None, None),
    ("năm triệu", 5_000_000, None, None),
    ("3 million a month", 3_000_000, Period.month, None),
])
def test_amounts_as_people_write_them(typed: str, dong: int, period: Period | None, per_person: bool | None) -> None:
    assert parse_income(typed) == Income(dong, period, per_person)


@pytest.mark.parametrize("typed", ["không biết", "nhiều lắm", "", "5 người", "ok", "0"])
def test_no_amount_is_none(typed: str) -> None:
    assert parse_income(typed) is None


@pytest.mark.parametrize(("typed", "people"), [("5", 5), ("5 người", 5), ("nhà có năm người", 5), ("1 khẩu", 1), ("10", 10)])
def test_people_as_typed(typed: str, people: int) -> None:
    assert parse_people(typed) == people


@pytest.mark.parametrize("typed", ["không biết", "0", "3 hay 4", "99"])
def test_people_not_understood(typed: str) -> None:
    assert parse_people(typed) is None


def _grouped(dong: int) -> str:
    return f"{dong:,}".replace(",", ".")


def written_forms(dong: int) -> list[str]:
    """Ways people write a whole number of đồng (multiples of 1.000)."""
    forms = [_grouped(dong), _grouped(dong) + "đ", _grouped(dong) + " đồng", f"{dong // 1000}k", f"{dong // 1000} nghìn"]
    if dong % 100_000 == 0 and dong >= 1_000_000:
        millions, rest = divmod(dong // 100_000, 10)
        forms += [f"{millions}tr{rest}" if rest else f"{millions}tr", f"{millions} triệu {rest}" if rest else f"{millions} triệu",
                  f"{millions},{rest} triệu" if rest else f"{millions} triệu"]
    return forms


AMOUNTS = st.integers(min_value=50, max_value=9_000).map(lambda thousands: thousands * 1000)
ROUND_AMOUNTS = st.integers(min_value=10, max_value=90).map(lambda hundreds: hundreds * 100_000)
DAYS = st.dates(min_value=date(2022, 1, 1), max_value=date(2029, 12, 31))


@settings(max_examples=150, deadline=None)
@given(dong=st.one_of(AMOUNTS, ROUND_AMOUNTS), data=st.data())
def test_any_written_form_reads_as_the_amount(dong: int, data: st.DataObject) -> None:
    form = data.draw(st.sampled_from(written_forms(dong)))
    period, suffix = data.draw(st.sampled_from([(None, ""), (Period.month, " một tháng"), (Period.month, "/tháng"),
                                                (Period.year, " một năm"), (Period.year, "/năm"), (Period.year, " mỗi năm")]))
    prefix, per_person = data.draw(st.sampled_from([("", None), ("mỗi người ", True), ("cả nhà ", False)]))
    assert parse_income(f"{prefix}{form}{suffix}") == Income(dong, period, per_person)


@settings(max_examples=300, deadline=None)
@given(
    dong=st.one_of(AMOUNTS, ROUND_AMOUNTS, st.sampled_from([1_500_000, 2_000_000, 2_200_000, 2_800_000, 2_250_000, 3_000_000])),
    people=st.integers(min_value=1, max_value=10),
    period=st.sampled_from(list(Period)),
    per_person=st.booleans(),
    zone=st.sampled_from(list(Zone)),
    day=DAYS,
)
def test_income_per_person_per_month_against_the_line_in_force(
    dong: int, people: int, period: Period, per_person: bool, zone: Zone, day: date
) -> None:
    income = per_person_month(dong, period=period, per_person=per_person, people=people)
    assert income == Fraction(dong, (12 if period is Period.year else 1) * (1 if per_person else people))
    [standard] = [s for s in SELFCHECK.standards_on(day) if s.applies_on(day)]
    assert standard is (ND07 if day <= date(2026, 12, 31) else ND351)
    line = {(ND07, Zone.rural): 1_500_000, (ND07, Zone.urban): 2_000_000,
            (ND351, Zone.rural): 2_200_000, (ND351, Zone.urban): 2_800_000}[standard, zone]
    verdict = assess(standard, zone, income)
    assert verdict.line == line
    assert verdict.under_line == (income <= line)
    if income <= line:
        assert verdict.outcome is Outcome.under_line
    elif standard is ND07 and income <= {Zone.rural: 2_250_000, Zone.urban: 3_000_000}[zone]:
        assert verdict.outcome is Outcome.average
    else:  # above the band, or under ND 351, whose band our sources do not give
        assert verdict.outcome is Outcome.above


@given(deficits=st.lists(st.sampled_from([q.id for q in SELFCHECK.questions]), unique=True), zone=st.sampled_from(list(Zone)))
def test_three_or_more_deficits_under_the_line_is_poor_fewer_near_poor(deficits: list[str], zone: Zone) -> None:
    verdict = assess(ND07, zone, Fraction(ND07.line(zone)), tuple(deficits))
    assert verdict.outcome is (Outcome.poor if len(deficits) >= 3 else Outcome.near_poor)
    assert assess(ND07, zone, Fraction(ND07.line(zone) + 1), tuple(deficits)).outcome is Outcome.average


def test_the_line_exactly_is_under_it_and_one_dong_more_is_not() -> None:
    assert assess(ND07, Zone.rural, per_person_month(6_000_000, period=Period.month, per_person=False, people=4)).under_line
    assert not assess(ND07, Zone.rural, per_person_month(6_000_004, period=Period.month, per_person=False, people=4)).under_line
    assert assess(ND07, Zone.rural, per_person_month(72_000_000, period=Period.year, per_person=False, people=4)).under_line


def test_december_gives_both_standards_and_other_months_one() -> None:
    assert SELFCHECK.standards_on(date(2026, 12, 1)) == [ND07, ND351]
    assert SELFCHECK.standards_on(date(2026, 12, 31)) == [ND07, ND351]
    assert SELFCHECK.standards_on(date(2026, 11, 30)) == [ND07]
    assert SELFCHECK.standards_on(date(2027, 1, 1)) == [ND351]
    assert SELFCHECK.standards_on(date(2027, 12, 15)) == [ND351]


def test_lines_are_those_of_the_policy_facts() -> None:
    assert (ND07.rural, ND07.urban, ND07.average_rural, ND07.average_urban) == (1_500_000, 2_000_000, 2_250_000, 3_000_000)
    assert (ND351.rural, ND351.urban, ND351.average_rural, ND351.average_urban) == (2_200_000, 2_800_000, None, None)
    assert ND07.valid_until == date(2026, 12, 31) and ND351.valid_from == date(2027, 1, 1)
    assert ND07.source.document == "Nghị định 07/2021/NĐ-CP" and ND351.source.document == "Nghị định 351/2025/NĐ-CP"


def test_indicator_questions_ship_for_review_and_are_not_asked() -> None:
    assert len(SELFCHECK.questions) == 12
    assert all(question.needs_review and not question.asked_on(date(2026, 12, 6)) for question in SELFCHECK.questions)


@given(day=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)))
def test_review_season_is_september_to_mid_december(day: date) -> None:
    assert in_review_season(day) == (date(day.year, 9, 1) <= day <= date(day.year, 12, 14))


def test_xa_is_rural_and_phuong_urban() -> None:
    assert zone_of("xã") is Zone.rural and zone_of("phường") is Zone.urban and zone_of("") is None


def test_content_check_names_the_lines_and_the_questions_waiting() -> None:
    december = SELFCHECK.summary_on(date(2026, 12, 6))
    assert "Nghị định 07/2021/NĐ-CP (rural 1500000, urban 2000000)" in december and "from 2027-01-01 Nghị định 351/2025" in december
    assert "0 of 12 indicator questions asked (12 wait for review" in december
    assert "07/2021" not in SELFCHECK.summary_on(date(2027, 2, 1))
