"""Requests from Slack already acted on: a retry (`X-Slack-Retry-Num`) or a double click
must not act twice.

A key is recorded in the same transaction as the change it guards, so either both are
committed or neither is. A key seen again within its window is a repeat; keys older than a
day are purged by the hand-off job's housekeeping.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from oncall.db import UTCDateTime

KEEP = timedelta(days=1)


class SeenSlackRequest(SQLModel, table=True):
    __tablename__ = "slack_seen_requests"

    key: str = Field(primary_key=True, max_length=255)
    seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


SEEN: Table = SeenSlackRequest.__table__  # type: ignore[attr-defined]
# RETURNING says whether a row was written: a driver's rowcount for ON CONFLICT DO NOTHING
# is not to be trusted (psycopg may answer -1).
_INSERT = {
    "sqlite": sqlite.insert(SEEN).on_conflict_do_nothing().returning(SEEN.c.key),
    "postgresql": postgresql.insert(SEEN).on_conflict_do_nothing().returning(SEEN.c.key),
}


def first_time(*, session: Session, key: str, now: datetime, window: timedelta = KEEP) -> bool:
    """True when `key` was not seen within `window` before `now` (and records it now).

    Two concurrent calls with one key: the primary key lets one insert through, and the other
    waits for its transaction and then sees it."""
    key = key[:255]
    connection = session.connection()
    renewed = connection.execute(
        update(SEEN)
        .where(SEEN.c.key == key, SEEN.c.seen_at <= now - window)
        .values(seen_at=now)
        .returning(SEEN.c.key)
    ).first()
    if renewed is not None:
        return True
    inserted = connection.execute(_INSERT[connection.dialect.name], {"key": key, "seen_at": now})
    return inserted.first() is not None


def purge(*, session: Session, now: datetime) -> int:
    result = session.connection().execute(delete(SEEN).where(SEEN.c.seen_at < now - KEEP))
    return int(result.rowcount or 0)
