"""One scheduler leader per database: a lease row that the leader renews.

Every `oncall serve` process on one database (replicas on PostgreSQL, or two processes started
on one SQLite file by mistake) tries to take the lease; the holder runs the scheduled jobs
(escalations, housekeeping), the others serve HTTP and stand by. A holder that dies stops
renewing, its lease runs out, and a standby takes over. The lease is a plain row with a
conditional UPDATE, so SQLite and PostgreSQL behave alike.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Table, case, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from oncall.db import UTCDateTime

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"
LEASE_TTL = timedelta(seconds=15)


class Lease(SQLModel, table=True):
    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    acquired_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


LEASES: Table = Lease.__table__  # type: ignore[attr-defined]


def process_identity() -> str:
    """Who holds a lease, as an operator reads it: host, pid and a nonce (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def try_acquire(
    *, session: Session, name: str, holder: str, now: datetime, ttl: timedelta = LEASE_TTL
) -> bool:
    """Take or renew the lease `name` for `holder` until `now + ttl`; False if someone else
    holds it. Commits are the caller's; a renewal keeps `acquired_at`."""
    renewed = session.connection().execute(
        update(LEASES)
        .where(LEASES.c.name == name)
        .where(or_(LEASES.c.holder == holder, LEASES.c.expires_at <= now))
        .values(
            holder=holder,
            expires_at=now + ttl,
            # A takeover starts a new tenure; a renewal keeps the old one.
            acquired_at=case((LEASES.c.holder == holder, LEASES.c.acquired_at), else_=now),
        )
    )
    if renewed.rowcount:
        return True
    try:
        with session.begin_nested():
            session.add(Lease(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
    except IntegrityError:
        return False  # another process created it first
    return True


def release(*, session: Session, name: str, holder: str, now: datetime) -> None:
    """Give the lease up at once (a clean shutdown), so a standby need not wait for it."""
    session.connection().execute(
        update(LEASES)
        .where(LEASES.c.name == name)
        .where(col(Lease.holder) == holder)
        .values(expires_at=now)
    )


def holder_of(*, session: Session, name: str, now: datetime) -> str | None:
    row = session.get(Lease, name, populate_existing=True)
    return row.holder if row is not None and row.expires_at > now else None
