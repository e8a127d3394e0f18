"""Rotation runtime state: overrides, swaps and calendar feed tokens.

The layers live in the catalog; shifts are computed, never stored.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from oncall.db import UTCDateTime


class Override(SQLModel, table=True):
    """`person` covers `rotation` from `starts_at` to `ends_at`, whoever the layers give."""

    __tablename__ = "overrides"
    # who_is_on_call loads the overrides of one rotation that end after a moment.
    __table_args__ = (Index("ix_overrides_rotation_ends", "rotation_id", "ends_at"),)

    id: int | None = Field(default=None, primary_key=True)
    rotation_id: str = Field(foreign_key="rotations.id", index=True, max_length=64)
    person_id: str = Field(foreign_key="people.id", max_length=64)
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ends_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_by: str = "api"
    note: str | None = None
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    removed_by: str | None = None


class SwapStatus(StrEnum):
    requested = "requested"
    accepted = "accepted"
    declined = "declined"
    cancelled = "cancelled"


class Swap(SQLModel, table=True):
    """One shift, identified by (rotation, layer, shift start), handed from one person to another.

    Stored against the shift's identity, not a position in the cycle, so an edit of the
    layer never moves it; a swap that no longer matches a shift is reported, not dropped.
    """

    __tablename__ = "swaps"

    id: int | None = Field(default=None, primary_key=True)
    rotation_id: str = Field(foreign_key="rotations.id", index=True, max_length=64)
    layer: str = Field(max_length=64)
    shift_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    from_person_id: str = Field(foreign_key="people.id", max_length=64)
    to_person_id: str = Field(foreign_key="people.id", max_length=64)
    status: str = Field(default=SwapStatus.requested, max_length=16)
    requested_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    requested_by: str = "api"
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = None
    note: str | None = None


class CalendarToken(SQLModel, table=True):
    """A secret feed URL for a rotation or a person; only the token's SHA-256 is stored."""

    __tablename__ = "calendar_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True, max_length=64)
    rotation_id: str | None = Field(default=None, foreign_key="rotations.id", max_length=64)
    person_id: str | None = Field(default=None, foreign_key="people.id", max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_by: str = "cli"
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class HandOff(SQLModel, table=True):
    """Who a rotation's hand-off notices last announced as on call: the hand-off job compares
    the final schedule with it and announces each change once."""

    __tablename__ = "rotation_handoffs"

    rotation_id: str = Field(primary_key=True, foreign_key="rotations.id", max_length=64)
    person_id: str | None = Field(default=None, max_length=64)
    since: datetime = Field(sa_type=UTCDateTime, nullable=False)
    announced_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
