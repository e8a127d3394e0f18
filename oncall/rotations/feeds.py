"""Calendar feed tokens: secret, revocable URLs for a rotation's or a person's iCal feed.

A token is 32 random bytes (`secrets.token_urlsafe`), shown once when created; only its
SHA-256 is stored, so a copy of the database does not give the feeds away. An unknown or
revoked token finds nothing (the HTTP route answers 404 either way, revealing neither).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlmodel import Session, col, select

from oncall.catalog.service import get_person, get_rotation
from oncall.errors import InvalidRequest, UnknownEntity
from oncall.rotations.ical import export_person_ics, export_rotation_ics, feed_window
from oncall.rotations.models import CalendarToken

TOKEN_BYTES = 32


class UnknownFeed(UnknownEntity):
    """No active feed for that token (never issued, or revoked)."""

    def __init__(self) -> None:
        # The token is a secret: it is neither kept nor repeated in the message.
        super().__init__(
            "calendar feed", "", message="no such calendar feed (unknown or revoked token)"
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/calendar/{token}.ics"


def create_calendar_token(
    *,
    session: Session,
    now: datetime,
    rotation_id: str | None = None,
    person_id: str | None = None,
    by: str = "cli",
) -> tuple[CalendarToken, str]:
    """A new feed token for a rotation or a person (exactly one). Returns the stored row and
    the token itself, which is not stored and cannot be shown again."""
    if (rotation_id is None) == (person_id is None):
        raise InvalidRequest("a feed is for a rotation or for a person: name exactly one")
    if rotation_id is not None:
        get_rotation(session=session, rotation_id=rotation_id)
    if person_id is not None:
        get_person(session=session, person_id=person_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = CalendarToken(
        token_sha256=hash_token(token),
        rotation_id=rotation_id,
        person_id=person_id,
        created_at=now,
        created_by=by,
    )
    session.add(row)
    session.flush()
    return row, token


def list_calendar_tokens(*, session: Session, include_revoked: bool = True) -> list[CalendarToken]:
    query = select(CalendarToken).order_by(col(CalendarToken.id))
    if not include_revoked:
        query = query.where(col(CalendarToken.revoked_at).is_(None))
    return list(session.exec(query))


def revoke_calendar_token(*, session: Session, token_id: int, now: datetime) -> CalendarToken:
    """Revoke a feed token; its URL answers 404 from now on. Revoking twice changes nothing."""
    row = session.get(CalendarToken, token_id)
    if row is None:
        raise UnknownEntity("calendar token", str(token_id))
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        session.flush()
    return row


def calendar_feed(*, session: Session, token: str, now: datetime) -> bytes:
    """The feed a token opens, over the default window (30 days back, 180 ahead)."""
    row = session.exec(
        select(CalendarToken).where(col(CalendarToken.token_sha256) == hash_token(token))
    ).first()
    if row is None or row.revoked_at is not None:
        raise UnknownFeed()
    start, end = feed_window(now)
    try:
        if row.rotation_id is not None:
            return export_rotation_ics(
                session=session, rotation_id=row.rotation_id, start=start, end=end, now=now
            )
        if row.person_id is not None:
            return export_person_ics(
                session=session, person_id=row.person_id, start=start, end=end, now=now
            )
    except UnknownEntity:
        pass  # the rotation or person is gone from the database: the feed is gone too
    raise UnknownFeed()
