"""`Annotated` dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.database import session_scope


def get_db() -> Iterator[Session]:
    """One session per request: committed after the endpoint returns, rolled back on any
    error (`session_scope`)."""
    with session_scope() as session:
        yield session


DbSession = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
