"""Heavy-pollution warning levels: blue < yellow < orange < red.

One ordered enum shared by the whole service (criteria sets, episodes, plans, API, CAP).
`Level` is a `StrEnum`, so its value is the lower-case English code (``"red"``) that goes
into YAML plans, database columns and JSON; comparisons (``<``, ``max``, ``sorted``) follow
severity, not spelling: ``Level.BLUE < Level.YELLOW < Level.ORANGE < Level.RED``.

Each level carries its Chinese name (蓝色…红色), the emergency response grade it starts
(blue = Ⅳ … red = Ⅰ, standards §2) and its display colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class LevelInfo:
    """Display facts of one level."""

    rank: int  # 1 (blue) .. 4 (red)
    name_zh: str  # 蓝色
    name_en: str  # Blue
    response_grade: str  # Ⅳ .. Ⅰ (Roman numeral characters, as printed in Chinese plans)
    response_grade_number: int  # 4 .. 1
    colour_hex: str
    rgb: tuple[int, int, int]


class Level(StrEnum):
    """A heavy-pollution warning level, ordered by severity."""

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def info(self) -> LevelInfo:
        return _INFO[self.value]

    @property
    def rank(self) -> int:
        """1 for blue … 4 for red."""
        return self.info.rank

    @property
    def name_zh(self) -> str:
        """蓝色, 黄色, 橙色 or 红色."""
        return self.info.name_zh

    @property
    def name_en(self) -> str:
        """Blue, Yellow, Orange or Red."""
        return self.info.name_en

    @property
    def response_grade(self) -> str:
        """The emergency response grade the level starts: Ⅳ (blue) … Ⅰ (red)."""
        return self.info.response_grade

    @property
    def response_grade_number(self) -> int:
        """4 (blue) … 1 (red): lower number, stronger response."""
        return self.info.response_grade_number

    @property
    def colour_hex(self) -> str:
        return self.info.colour_hex

    @property
    def warning_name_zh(self) -> str:
        """The official event name, e.g. 重污染天气橙色预警."""
        return f"重污染天气{self.name_zh}预警"

    @property
    def warning_name_en(self) -> str:
        """E.g. ``Orange heavy-pollution warning``."""
        return f"{self.name_en} heavy-pollution warning"

    # Ordering by severity. Comparing with anything but a Level (even the string "red")
    # raises, so a lexical str comparison can never slip in ("blue" < "red" < "yellow").
    def _rank_of(self, other: object) -> int:
        if not isinstance(other, Level):
            raise TypeError(f"cannot order Level against {type(other).__name__}")
        return other.rank

    def __lt__(self, other: object) -> bool:
        return self.rank < self._rank_of(other)

    def __le__(self, other: object) -> bool:
        return self.rank <= self._rank_of(other)

    def __gt__(self, other: object) -> bool:
        return self.rank > self._rank_of(other)

    def __ge__(self, other: object) -> bool:
        return self.rank >= self._rank_of(other)

    def __hash__(self) -> int:
        return hash(self.value)

    @classmethod
    def parse(cls, text: str) -> Level:
        """A level from its code (``red``), English name (``Red``) or Chinese (红色/红)."""
        key = text.strip()
        for level in cls:
            if key.lower() in (level.value, level.name_en.lower()) or key in (
                level.name_zh,
                level.name_zh[0],
            ):
                return level
        raise ValueError(
            f"unknown warning level {text!r}; expected one of {[lv.value for lv in cls]}"
        )


_INFO: Final = MappingProxyType(
    {
        "blue": LevelInfo(1, "蓝色", "Blue", "Ⅳ", 4, "#1E6FD9", (30, 111, 217)),
        "yellow": LevelInfo(2, "黄色", "Yellow", "Ⅲ", 3, "#FFD700", (255, 215, 0)),
        "orange": LevelInfo(3, "橙色", "Orange", "Ⅱ", 2, "#FF7E00", (255, 126, 0)),
        "red": LevelInfo(4, "红色", "Red", "Ⅰ", 1, "#E60000", (230, 0, 0)),
    }
)

#: All levels, weakest first.
LEVELS: Final[tuple[Level, ...]] = (Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED)


def max_level(*levels: Level | None) -> Level | None:
    """The most severe of the given levels, ignoring None (None if all are None)."""
    present = [level for level in levels if level is not None]
    return max(present) if present else None
