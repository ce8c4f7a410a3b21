"""Content files: the shipped content is valid and within limits; broken files get precise errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from content.areas import read_area_records
from content.loader import MAX_ANSWER, ContentInvalid, load_content, rendered_answer

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"


@pytest.fixture(scope="module")
def bundle():  # type: ignore[no-untyped-def]
    return load_content(area_codes=[r.code for r in read_area_records()])


def test_shipped_content_is_complete(bundle) -> None:
    assert len(bundle.faqs) >= 60
    assert len(bundle.stories) >= 8
    assert len(bundle.topics) >= 8
    for entry in bundle.faqs:
        for locale in ("vi", "en"):
            text = rendered_answer(entry, locale)
            assert len(text) <= MAX_ANSWER, entry.id
            assert entry.sources
    for story in bundle.stories:
        assert len(story.text("vi").body) <= 1200 and story.illustrative


def test_shipped_stories_tell_of_households_in_dak_lak_leaving_poverty(bundle) -> None:
    """The list is headed "households that escaped poverty": each story must be one, in a commune of the area data."""
    communes = {record.code: record for record in read_area_records() if record.kind in ("xã", "phường")}
    leaving = []
    for story in bundle.stories:
        vi, en = story.text("vi"), story.text("en")
        place = communes.get(story.commune or "")
        assert place is not None, story.id
        assert f"{place.kind} {place.name}" in vi.summary + vi.body and place.name in en.summary + en.body, story.id
        if "thoát nghèo" in vi.summary + vi.body and "left poverty" in en.summary + en.body:
            leaving.append(story.id)
    assert len(leaving) >= 2 and leaving == [story.id for story in bundle.stories], "every shipped story ends with leaving poverty"


def test_stories_state_only_the_loan_rates_the_faq_states(bundle) -> None:
    """Rates in the invented stories are the bank's: poor 6,6 %, near-poor 7,92 %, newly escaped 8,25 %, housing 3 %."""
    for story in bundle.stories:
        for locale, decimal in (("vi", ","), ("en", ".")):
            text = story.text(locale)
            rates = set(re.findall(r"\d+(?:[.,]\d+)?%", " ".join((text.title, text.summary, text.body))))
            assert rates <= {f"6{decimal}6%", f"7{decimal}92%", f"8{decimal}25%", "3%"}, (story.id, locale, rates)


def test_vietnamese_answers_are_polite_and_accented(bundle) -> None:
    for entry in bundle.faqs:
        answer = entry.text("vi").answer
        assert any(ch in answer for ch in "ạảãàáâầấậẩẫăằắặẳẵđêềếệểễôồốộổỗơờớợởỡưừứựửữ"), entry.id


def test_exactly_one_poverty_line_answer_is_in_force_on_any_day(bundle) -> None:
    lines = [e for e in bundle.faqs if e.replaced_by or any(
        other.replaced_by == e.id for other in bundle.faqs)]
    assert lines, "the current poverty line entry names its successor with replaced_by"
    for day in (date(2026, 11, 28), date(2026, 12, 31), date(2027, 1, 1), date(2028, 6, 1)):
        in_force = [e for e in lines if e.is_valid_on(day)]
        assert len({e.id for e in in_force}) >= 1, day


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    (root / "faq").mkdir(parents=True)
    shutil.copy(CONTENT / "topics.yaml", root / "topics.yaml")
    shutil.copy(CONTENT / "stories.yaml", root / "stories.yaml")
    for path in (CONTENT / "faq").glob("*.yaml"):
        shutil.copy(path, root / "faq" / path.name)
    return root


def test_yaml_syntax_errors_are_reported_first_and_all_of_them(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "faq" / "broken.yaml").write_text("topic: x\nentries: [\n")
    (root / "stories.yaml").write_text("stories:\n  - id: [unclosed\n")
    with pytest.raises(ContentInvalid) as error:
        load_content(root)
    files = sorted(e.file for e in error.value.errors)
    assert files == ["faq/broken.yaml", "stories.yaml"]
    assert all("not valid YAML" in e.message for e in error.value.errors)


def test_field_errors_name_file_entry_and_field(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "faq" / "bad.yaml").write_text(
        "topic: poverty_standard\n"
        "entries:\n"
        "  - id: Bad_ID\n"
        "    sources: []\n"
        "    vi: {question: 'Câu hỏi?', answer: 'Dạ, đây là câu trả lời.'}\n"
        "    en: {question: 'Question?', answer: 'This is the answer.'}\n"
        "  - id: no-english\n"
        "    sources: [{document: Nghị định 07/2021/NĐ-CP, date: 2021-01-27}]\n"
        "    colour: red\n"
        "    vi: {question: 'Câu hỏi?', answer: 'Dạ, đây là câu trả lời.'}\n"
    )
    with pytest.raises(ContentInvalid) as error:
        load_content(root)
    found = {(e.file, e.entry, e.field) for e in error.value.errors}
    assert ("faq/bad.yaml", "Bad_ID", "id") in found
    assert ("faq/bad.yaml", "Bad_ID", "sources") in found
    assert ("faq/bad.yaml", "no-english", "en") in found
    assert ("faq/bad.yaml", "no-english", "colour") in found


def test_reference_errors_after_the_fields_are_right(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    long_answer = "Dạ, " + "rất dài " * 100
    (root / "faq" / "refs.yaml").write_text(
        "topic: no_such_topic\n"
        "entries:\n"
        "  - id: dangling\n"
        "    sources: [{document: Nghị định 07/2021/NĐ-CP, date: 2021-01-27}]\n"
        "    valid_from: 2027-01-01\n"
        "    valid_until: 2026-01-01\n"
        "    replaced_by: nowhere\n"
        f"    vi: {{question: 'Câu hỏi?', answer: '{long_answer}'}}\n"
        "    en: {question: 'Question?', answer: 'This is the answer.'}\n"
    )
    with pytest.raises(ContentInvalid) as error:
        load_content(root, area_codes=[])
    fields = {(e.entry, e.field) for e in error.value.errors}
    assert {("dangling", "topic"), ("dangling", "valid_until"), ("dangling", "replaced_by"), ("dangling", "vi.answer")} <= fields
    assert any(e.field == "commune" for e in error.value.errors), "stories name communes that exist"


def test_content_check_command(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "bot", "content", "check"], cwd=tmp_path,
                        env={"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "content/ is valid" in ok.stdout
