"""Whose App Home to refresh when what it shows changes.

A person's App Home shows their next shifts, their open incidents, who is on call in their
rotations and their team's models. A change to any of these enqueues (in the caller's
transaction, through the outbox) one `home_refresh` row per affected person; the Slack
handler renders the view when it sends, skips a row that a later one for the same person
supersedes, and publishes a person's home at most once every few seconds, so a burst of
changes is one `views.publish` with the latest state.

Only people with a `slack_user` who have opened the App Home at least once are refreshed:
the others have no home to show it on, and a call for them would be wasted."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Table, bindparam, update
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from oncall.catalog.models import Person, Rotation
from oncall.db import DriverQuery, UTCDateTime
from oncall.outbox import Channel, MessageKind, enqueue
from oncall.rotations.permissions import rotation_members

KEY_PREFIX = "home:"


class SlackHomeOpened(SQLModel, table=True):
    """A person who has opened the bot's App Home (first and latest time)."""

    __tablename__ = "slack_home_opened"

    person_id: str = Field(primary_key=True, foreign_key="people.id", max_length=64)
    first_opened_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_opened_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


OPENED: Table = SlackHomeOpened.__table__  # type: ignore[attr-defined]
PEOPLE: Table = Person.__table__  # type: ignore[attr-defined]
_INSERT = {
    "sqlite": sqlite.insert(OPENED).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(OPENED).on_conflict_do_nothing(),
}


# People with an App Home to refresh: a Slack user, not retired, and the home opened once.
_HAVE_HOMES = (
    select_columns(PEOPLE.c.id)
    .join(OPENED, OPENED.c.person_id == PEOPLE.c.id)
    .where(PEOPLE.c.slack_user.is_not(None))
    .where(PEOPLE.c.retired_at.is_(None))
)
# One of them: asked for each new incident's assignee (prepared, on SQLite's cursor).
_HAS_HOME = DriverQuery(_HAVE_HOMES.where(PEOPLE.c.id == bindparam("person_id")))


def record_opened(*, session: Session, person_id: str, now: datetime) -> None:
    """Remember that the person has opened the App Home (two concurrent opens: one row)."""
    connection = session.connection()
    touched = connection.execute(
        update(OPENED).where(OPENED.c.person_id == person_id).values(last_opened_at=now)
    )
    if not touched.rowcount:
        connection.execute(
            _INSERT[connection.dialect.name],
            {"person_id": person_id, "first_opened_at": now, "last_opened_at": now},
        )


def person_key_prefix(person_id: str) -> str:
    return f"{KEY_PREFIX}{person_id}:"


def refresh(*, session: Session, people: Iterable[str | None], now: datetime) -> int:
    """Enqueue a refresh of these people's App Homes (those with a Slack user who have opened
    it); returns how many rows were enqueued."""
    wanted = sorted({p for p in people if p})
    if not wanted:
        return 0
    connection = session.connection()
    if len(wanted) == 1:  # an incident's assignee: the hot path, one prepared query
        homes = [p for p in wanted if _HAS_HOME.first(connection, {"person_id": p}) is not None]
    else:  # a rotation's members, a team: one query for all of them
        homes = sorted(
            row.id
            for row in connection.execute(
                _HAVE_HOMES.where(PEOPLE.c.id.in_(bindparam("people", expanding=True))),
                {"people": wanted},
            )
        )
    count = 0
    for person_id in homes:
        enqueue(
            session=session,
            channel=Channel.slack,
            kind=MessageKind.home_refresh,
            payload={"person": person_id},
            now=now,
            # Unique per row; its prefix lets the handler find a later row for the person.
            dedup_key=f"{person_key_prefix(person_id)}{uuid.uuid4().hex}"[:128],
        )
        count += 1
    return count


def refresh_rotation(*, session: Session, rotation_id: str, now: datetime) -> int:
    """A change to a rotation's final schedule (override, swap): its members' shifts and its
    "on call now" line may have moved."""
    rotation = session.get(Rotation, rotation_id)
    if rotation is None:
        return 0
    return refresh(session=session, people=rotation_members(rotation), now=now)
