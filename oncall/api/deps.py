"""Request dependencies: the database session, settings, clock and the webhook token check."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlmodel import Session

from oncall.config import Settings


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; committed by the route (explicitly) or rolled back on error."""
    # A database outage surfaces as OperationalError: the app turns it into 503 (app.py).
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


def get_now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


async def require_webhook_token(request: Request) -> None:  # async: no thread hop per request
    """`Authorization: Bearer $ONCALL_WEBHOOK_TOKEN`, compared in constant time, when configured."""
    settings: Settings = request.app.state.settings
    if settings.webhook_token is None:
        return
    expected = settings.webhook_token.get_secret_value().encode()
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token (ONCALL_WEBHOOK_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
NowDep = Annotated[datetime, Depends(get_now)]
TokenDep = Depends(require_webhook_token)
