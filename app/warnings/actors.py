"""Who acts on a warning: the system or a principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from alerts.episodes import SYSTEM


@dataclass(frozen=True)
class Actor:
    """Who acts: ``system``, or a principal (name, API key id, role)."""

    name: str
    key_id: int | None = None
    role: str | None = None


SYSTEM_ACTOR: Final = Actor(SYSTEM)
