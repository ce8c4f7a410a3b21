"""Administrative areas: loading the shipped data file and finding a commune by what people type."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from rapidfuzz import fuzz, process

from content.text import fold

DATA_DIR = Path(__file__).parent / "data"
COMMUNES_FILE = DATA_DIR / "daklak-communes-2025.csv"
PROVINCES_FILE = DATA_DIR / "provinces.csv"
PROVINCE_CODE = "66"
_PREFIXES = ("xa ", "phuong ", "thi tran ")


@dataclass(frozen=True)
class AreaRecord:
    """One administrative unit as shipped in `content/data`."""

    code: str
    name: str
    level: str
    kind: str = ""
    parent_code: str | None = None
    former_district: str = ""

    @property
    def label(self) -> str:
        """The name with its kind, as people say it ("xã Hòa Phú", "phường Tân An")."""
        return f"{self.kind} {self.name}".strip() if self.level == "commune" else self.name

    @property
    def group(self) -> str:
        """The former district people still navigate by (the first one when a unit spans several)."""
        return self.former_district.split(";")[0].strip()


def read_area_records(communes_file: Path = COMMUNES_FILE, provinces_file: Path = PROVINCES_FILE) -> list[AreaRecord]:
    """Read the province and its communes (parents first) from the data files."""
    with provinces_file.open(encoding="utf-8") as handle:
        provinces = [AreaRecord(row["code"], row["name"], "province") for row in csv.DictReader(handle)]
    with communes_file.open(encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    communes = [
        AreaRecord(
            code=row["code"].strip(),
            name=row["name"].strip(),
            level="commune",
            kind=row["type"].strip(),
            parent_code=PROVINCE_CODE,
            former_district=row["former_district"].strip(),
        )
        for row in csv.DictReader(lines)
    ]
    return provinces + communes


@dataclass(frozen=True)
class CommuneMatch:
    """A commune and how well it matched what was typed (0–100)."""

    area: AreaRecord
    score: float


@dataclass
class AreaDirectory:
    """All areas in memory, with lookups for pickers and typed names."""

    records: Sequence[AreaRecord]
    _by_code: dict[str, AreaRecord] = field(init=False, repr=False)
    _communes: list[AreaRecord] = field(init=False, repr=False)
    _keys: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_code = {record.code: record for record in self.records}
        self._communes = sorted((r for r in self.records if r.level == "commune"), key=lambda r: fold(r.name))
        self._keys = [fold(r.name) for r in self._communes]

    @classmethod
    def load(cls) -> AreaDirectory:
        """The directory of the shipped data files."""
        return cls(read_area_records())

    def get(self, code: str) -> AreaRecord | None:
        """The area with this code."""
        return self._by_code.get(code)

    def groups(self) -> list[str]:
        """Former districts, in alphabetical order of their folded names."""
        return sorted({r.group for r in self._communes if r.group}, key=_district_key)

    def communes_in_group(self, group: str) -> list[AreaRecord]:
        """Communes whose (first) former district is `group`."""
        return [r for r in self._communes if r.group == group]

    def communes(self) -> list[AreaRecord]:
        """All communes and wards, alphabetically."""
        return list(self._communes)

    def named_in(self, text: str) -> AreaRecord | None:
        """The one commune a sentence names after "xã", "phường" or "thị trấn" ("nhà tôi ở xa hoa phu,
        thu nhập…"), or None. A name alone is not enough: some are ordinary words ("Thành Công")."""
        key = f" {fold(text)} "
        found = {
            r.code: r
            for r, name in zip(self._communes, self._keys, strict=True)
            if any(f" {prefix}{name} " in key for prefix in _PREFIXES)
        }
        return next(iter(found.values())) if len(found) == 1 else None

    def match_commune(self, typed: str, *, limit: int = 5) -> list[CommuneMatch]:
        """Communes whose names match `typed` without diacritics, best first.

        An exact name (with or without "xã"/"phường", and however it is spaced: "Cư Mgar", "cumgar",
        "Eakao") returns only that commune.
        """
        query = fold(typed)
        for prefix in _PREFIXES:
            query = query.removeprefix(prefix)
        if not query:
            return []
        exact = [r for r, key in zip(self._communes, self._keys, strict=True) if key == query]
        if not exact:
            compact = query.replace(" ", "")
            exact = [r for r, key in zip(self._communes, self._keys, strict=True) if key.replace(" ", "") == compact]
        if exact:
            return [CommuneMatch(r, 100.0) for r in exact]
        found = process.extract(query, self._keys, scorer=fuzz.WRatio, limit=limit, score_cutoff=75)
        return [CommuneMatch(self._communes[index], score) for _key, score, index in found]


def _district_key(name: str) -> str:
    """Sort former districts by their proper name ("Huyện Lắk" under L, "Thành phố Buôn Ma Thuột" under B)."""
    key = fold(name)
    for prefix in ("huyen ", "thi xa ", "thanh pho "):
        key = key.removeprefix(prefix)
    return key


class AreaFields(Protocol):
    """What a row needs to become an AreaRecord (an `Area` row, or a record itself)."""

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def parent_code(self) -> str | None: ...
    @property
    def former_district(self) -> str: ...


def area_fields(source: AreaFields) -> dict[str, Any]:
    """The fields of an area record, read from a record or a database row (to pass on as keyword arguments)."""
    return {spec.name: getattr(source, spec.name) for spec in fields(AreaRecord)}


def as_records(rows: Iterable[AreaFields]) -> list[AreaRecord]:
    """Turn database rows with area fields into records."""
    return [AreaRecord(**area_fields(row)) for row in rows]
