"""Durable side effects: rows written in the same transaction as the change that caused them.

A worker delivers due rows through one handler per channel (Slack, PagerDuty, console), with
exponential backoff. A row is marked delivered only after its handler returned, so a crash
repeats at most the one delivery whose answer was not yet recorded (at least once).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Table, Text, delete, func, insert
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from oncall.db import UTCDateTime, session_scope

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=15)
# Delivered rows are kept this long (what was sent, when, and its Slack ts), then purged.
RETENTION = timedelta(days=30)
FIRST_BACKOFF = timedelta(seconds=5)


class Channel(StrEnum):
    slack = "slack"
    pagerduty = "pagerduty"
    console = "console"


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16, index=True)
    kind: str = Field(max_length=64)
    incident_id: int | None = Field(default=None, foreign_key="incidents.id", index=True)
    # Messages with the same ordering key are delivered one after another, in id order.
    ordering_key: str | None = Field(default=None, max_length=128)
    dedup_key: str | None = Field(default=None, max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    attempts: int = 0
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_via: str | None = Field(default=None, max_length=16)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_INSERT = insert(OUTBOX)  # built once: parameters are bound per call


class PermanentDeliveryError(Exception):
    """The target refused the message for good (a 4xx other than 429): do not retry."""


class RetryableDeliveryError(Exception):
    """The target is unavailable for now (429, 5xx, network): retry with backoff."""


def enqueue(
    *,
    session: Session,
    channel: Channel | str,
    kind: str,
    payload: Mapping[str, Any],
    now: datetime,
    incident_id: int | None = None,
    dedup_key: str | None = None,
) -> None:
    """Add a side effect to the caller's transaction; nothing leaves the process until commit.

    A plain INSERT (no ORM object): nothing reads the row back before the worker does."""
    session.connection().execute(
        _INSERT,
        {
            "channel": str(channel),
            "kind": kind,
            "incident_id": incident_id,
            "ordering_key": f"{channel}:incident:{incident_id}"
            if incident_id is not None
            else None,
            "dedup_key": dedup_key,
            "payload": dict(payload),
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
            "result": {},
        },
    )


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """5 s, 10 s, 20 s … capped at 15 min, with up to 20% jitter so retries do not stampede."""
    base = min(FIRST_BACKOFF * (1 << min(max(attempts - 1, 0), 20)), MAX_BACKOFF)
    jitter: float = (rng or random).uniform(0, 0.2)
    return base * (1 + jitter)


@dataclass
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0


Handler = Callable[[Session, OutboxMessage], Mapping[str, Any] | None]
OnFailure = Callable[[Session, OutboxMessage], None]


def _due(session: Session, now: datetime, limit: int) -> list[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.delivered_at).is_(None))
        .where(col(OutboxMessage.failed_at).is_(None))
        .where(col(OutboxMessage.next_attempt_at) <= now)
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Several replicas may run workers: each row goes to one of them.
        query = query.with_for_update(skip_locked=True)
    return list(session.exec(query))


def _blocked_by_earlier(session: Session, message: OutboxMessage) -> bool:
    if message.ordering_key is None:
        return False
    earlier = session.exec(
        select(OutboxMessage.id)
        .where(OutboxMessage.ordering_key == message.ordering_key)
        .where(col(OutboxMessage.id) < message.id)
        .where(col(OutboxMessage.delivered_at).is_(None))
        .where(col(OutboxMessage.failed_at).is_(None))
        .limit(1)
    ).first()
    return earlier is not None


def deliver_due(
    *,
    engine: Engine,
    handlers: Mapping[str, Handler],
    now: Callable[[], datetime],
    limit: int = 100,
    on_permanent_failure: OnFailure | None = None,
) -> DeliveryReport:
    """Deliver every due message once; each delivery commits on its own."""
    report = DeliveryReport()
    with session_scope(engine) as session:
        ids = [m.id for m in _due(session, now(), limit)]
    for message_id in ids:
        with session_scope(engine) as session:
            message = session.get(OutboxMessage, message_id, with_for_update=_lock(session))
            if message is None or message.delivered_at or message.failed_at:
                continue
            if _blocked_by_earlier(session, message):
                continue
            handler = handlers.get(message.channel)
            if handler is None:
                message.last_error = f"no handler for channel {message.channel!r}"
                message.attempts += 1
                message.next_attempt_at = now() + backoff(message.attempts)
                report.retried += 1
                continue
            try:
                result = handler(session, message)
            except PermanentDeliveryError as exc:
                message.attempts += 1
                message.failed_at = now()
                message.last_error = str(exc)[:2000]
                log.warning("outbox %s %s failed for good: %s", message.channel, message.kind, exc)
                if on_permanent_failure is not None:
                    on_permanent_failure(session, message)
                report.failed += 1
                continue
            except Exception as exc:  # any other error is treated as temporary
                message.attempts += 1
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                message.next_attempt_at = now() + backoff(message.attempts)
                log.info(
                    "outbox %s %s attempt %d failed, retrying at %s: %s",
                    message.channel,
                    message.kind,
                    message.attempts,
                    message.next_attempt_at.isoformat(),
                    message.last_error,
                )
                report.retried += 1
                continue
            message.attempts += 1
            message.delivered_at = now()
            message.delivered_via = message.delivered_via or message.channel
            message.result = dict(result or {})
            message.last_error = None
            report.delivered += 1
    return report


def _lock(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def pending_count(*, session: Session) -> int:
    return session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(col(OutboxMessage.delivered_at).is_(None))
        .where(col(OutboxMessage.failed_at).is_(None))
    ).one()


def purge_delivered(*, session: Session, now: datetime, keep: timedelta = RETENTION) -> int:
    """Delete rows delivered before `now - keep`; failed and pending rows stay.

    Incidents keep their Slack ts and their timeline, so nothing a person reads is lost."""
    result = session.execute(
        delete(OutboxMessage)
        .where(col(OutboxMessage.delivered_at).is_not(None))
        .where(col(OutboxMessage.delivered_at) < now - keep)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
