"""Content that is true on the day it is read: the same questions asked in December 2026 and after
1/1/2027 get the answer in force that day, through the real `python -m bot ask` command; no entry
outside its validity is ever offered; ended 2021–2025 projects say so and what to do now."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from content.search import FaqIndex, Status

ROOT = Path(__file__).resolve().parents[1]
DATED = Path(__file__).parent / "data" / "faq_eval_dated.yaml"
DECEMBER, JANUARY = date(2026, 12, 6), date(2027, 1, 2)

QUESTIONS = {
    "line_rural": "chuan ngheo o nong thon la bao nhieu",
    "line_urban": "Chuẩn nghèo ở thành thị bao nhiêu tiền một tháng?",
    "line_near_poor": "thu nhập bao nhiêu thì là hộ cận nghèo",
    "income": "thu nhập 2 triệu ở nông thôn có phải hộ nghèo không",
    "housing": "ho ngheo dc ho tro lam nha bao nhieu tien",
    "result_2025": "tỷ lệ hộ nghèo cả nước năm 2025",
    "personal_data": "Cầu Nối lưu những thông tin cá nhân nào của tôi?",
    "delete": "lam sao xoa du lieu cua toi",
    "programme": "Chương trình giảm nghèo giai đoạn 2026–2035 có gì mới?",
}


def ask(day: date) -> dict[str, dict]:
    """Every question of QUESTIONS through `python -m bot ask --json --on DAY` (content files, no database)."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "--on", day.isoformat()],
        input="\n".join(QUESTIONS.values()) + "\n", cwd=ROOT / "tests", env={"PYTHONPATH": str(ROOT), "DATA_DIR": "/nonexistent"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    return dict(zip(QUESTIONS, answers, strict=True))


@pytest.fixture(scope="module")
def december() -> dict[str, dict]:
    return ask(DECEMBER)


@pytest.fixture(scope="module")
def january() -> dict[str, dict]:
    return ask(JANUARY)


def line_answers(answers: dict[str, dict], faq_id: str) -> list[str]:
    """The answers to the questions about the poverty line, each checked to be the entry `faq_id`."""
    line = [(key, answers[key]) for key in ("line_rural", "line_urban", "line_near_poor", "income")]
    for key, answer in line:
        assert answer["status"] == "answer" and answer["faq_id"] == faq_id, (key, answer)
    return [answer["answer"] for _key, answer in line]


def test_the_line_in_december_is_today_s_line_with_what_changes_on_1_january(december) -> None:
    for text in line_answers(december, "poverty-line-2022-2026"):
        assert "1.500.000" in text and "2.000.000" in text and "Nghị định 07/2021/NĐ-CP" in text
        assert "1/1/2027" in text and "2.200.000" in text  # what changes, said in advance
        assert "31/12/2026" in text  # until when today's line holds


def test_the_line_from_1_january_2027_is_the_new_line_only(january) -> None:
    for text in line_answers(january, "poverty-line-2027-2030"):
        assert "2.200.000" in text and "2.800.000" in text and "Nghị định 351/2025/NĐ-CP" in text
        assert "1.500.000" not in text and "áp dụng đến hết ngày" not in text
        assert "áp dụng từ ngày 01/01/2027" in text  # the rule it replaced is mentioned, not answered


@pytest.mark.parametrize("day", [DECEMBER, JANUARY])
def test_answers_that_do_not_change_on_1_january_are_true_on_both_days(day, december, january) -> None:
    answers = december if day == DECEMBER else january
    housing = answers["housing"]
    assert housing["faq_id"] == "housing-support-du-an-5" and housing["status"] == "answer"
    assert "đã kết thúc" in housing["answer"] and "Ngân hàng Chính sách xã hội" in housing["answer"]
    result = answers["result_2025"]
    assert result["faq_id"] == "programme-result-2025" and "1,3%" in result["answer"]
    assert "0,9% từng được nêu là mục tiêu" in result["answer"]
    personal = answers["personal_data"]
    assert personal["faq_id"] == "bot-personal-data" and "Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15" in personal["answer"]
    assert "Nghị định 13/2023" not in personal["answer"]
    delete = answers["delete"]
    assert delete["faq_id"] == "bot-delete-data" and "91/2025/QH15" in delete["answer"]
    assert "không còn tên" in delete["answer"]  # reports stay with the authorities, without the name
    programme = answers["programme"]
    assert programme["faq_id"] == "programme-2026-2035"
    assert "257/2025/QH15" in programme["answer"] and "424/NQ-CP" in programme["answer"]
    assert "423.000" not in programme["answer"] and "hỏi UBND xã" in programme["answer"]


def test_dated_evaluation_set_gives_the_entry_in_force_that_day_and_never_an_expired_one(bundle) -> None:
    index = FaqIndex(bundle.faqs)
    cases = yaml.safe_load(DATED.read_text(encoding="utf-8"))
    assert len(cases) >= 25 and {case["day"] for case in cases} >= {DECEMBER, JANUARY}
    misses = []
    for case in cases:
        result = index.search(case["q"], on=case["day"])
        offered = [match.entry for match in result.matches]
        assert all(entry.is_valid_on(case["day"]) for entry in offered), (case, [e.id for e in offered])
        top = offered[0].id if offered and result.status is not Status.none else None
        if top != case["expect"]:
            misses.append((case["day"], case["q"], case["expect"], result.status.value, top))
    assert misses == []


def test_entries_about_the_ended_2021_2025_projects_say_they_ended_and_what_to_do_now(bundle) -> None:
    ended = ["livelihood-models", "production-support", "nutrition-support", "vocational-training-jobs",
             "housing-support-du-an-5", "programme-infrastructure-du-an-1", "programme-overview-2021-2025"]
    for faq_id in ended:
        entry = bundle.faq_by_id[faq_id]
        vi, en = entry.text("vi").answer, entry.text("en").answer
        assert "kết thúc" in vi and "ended" in en, faq_id
        assert "UBND xã" in vi or "Ngân hàng Chính sách xã hội" in vi, faq_id
        assert any(source.document.startswith("Nghị quyết 257/2025/QH15") for source in entry.sources), faq_id


def test_every_rule_that_ends_says_when_and_what_replaces_it(bundle) -> None:
    by_id = bundle.faq_by_id
    dated = [entry for entry in bundle.faqs if entry.valid_until]
    assert {"poverty-line-2022-2026", "household-average-living-standard", "indicators-overview",
            "poverty-standard-multidimensional"} <= {entry.id for entry in dated}
    for entry in dated:
        assert entry.replaced_by, entry.id
        successor = by_id[entry.replaced_by]
        assert successor.is_valid_on(entry.valid_until + timedelta(days=1)), (entry.id, successor.id)
        assert not entry.is_valid_on(entry.valid_until + timedelta(days=1))
    for entry in bundle.faqs:  # a Decree 07 rule cites the decree that keeps it in force until 31/12/2026
        documents = [source.document for source in entry.sources]
        if "Nghị định 07/2021/NĐ-CP" in documents and entry.topic == "indicators":
            assert "Nghị định 351/2025/NĐ-CP" in documents and entry.valid_until == date(2026, 12, 31), entry.id
