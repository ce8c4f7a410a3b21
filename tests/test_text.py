"""Vietnamese normalisation: what people type becomes comparable with the content."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from content.text import clean_input, fold, normalize, strip_diacritics


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Chuẩn nghèo là bao nhiêu???", "chuan ngheo la bao nhieu"),
        ("ho ngheo dc ho tro j ko", "ho ngheo duoc ho tro gi khong"),
        ("Hộ nghèo đc hỗ trợ gì k", "ho ngheo duoc ho tro gi khong"),
        ("bhyt cho hcn", "bao hiem y te cho ho can ngheo"),
        ("hs sv vay von nhcsxh", "hoc sinh sinh vien vay von ngan hang chinh sach xa hoi"),
        ("lam ntn de dang ky", "lam nhu the nao de dang ky"),
        ("thu nhap 1tr5", "thu nhap 1500000"),
        ("thu nhập 1,5 triệu", "thu nhap 1500000"),
        ("1.500.000 đồng", "1500000 dong"),
        ("2tr2 mot thang", "2200000 mot thang"),
        ("vay 40tr xay nha", "vay 40000000 xay nha"),
        ("lãi suất 6,6%", "lai suat 6.6%"),
        ("nghèoooo quáaaa", "ngheo qua"),
        ("chuanngheo2027", "chuanngheo 2027"),
        ("Đắk Lắk", "dak lak"),
        ("e\u0301a kao", "ea kao"),
    ],
)
def test_normalize(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


def test_fold_and_strip_diacritics() -> None:
    assert strip_diacritics("Đắk Lắk, Buôn Ma Thuột") == "Dak Lak, Buon Ma Thuot"
    assert fold("  Xã  Hòa-Phú! ") == "xa hoa phu"


def test_clean_input_removes_invisible_and_control_characters() -> None:
    assert clean_input("\u200bhộ\u00ad ngh\u0065\u0300o\x00\n") == "hộ nghèo"
    assert clean_input("a\nb") == "a\nb"


@given(st.text(max_size=300))
def test_normalize_never_fails_and_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip() and "  " not in once
