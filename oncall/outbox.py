"""Durable side effects: rows written in the same transaction as the change that caused them.

Delivery goes in three steps, and no transaction or row lock is open while the outside world
is called:

1. **claim** (one short transaction): rows of one channel that can go now — due, not leased by
   another worker, and with no earlier undelivered row of the same ordering key — are leased
   to this worker (`claimed_by`, `lease_until`) and rendered from the stored state;
2. **send**, outside any transaction;
3. **record** (one short transaction per row): delivered, retried with backoff, or failed for
   good. A worker that dies between 2 and 3 leaves a lease that expires, and the row is claimed
   again: a crash repeats at most the messages it had in flight (at least once).

Each channel is claimed on its own, so a Slack outage never delays a PagerDuty page. A commit
that enqueued rows wakes this process's workers at once; the poll is the fallback for rows
written by other processes. A row still undelivered after `max_age` (24 h by default) is dead:
failed, shown on its incident, counted in /metrics, and replayable with `oncall outbox retry`.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    event,
    exists,
    func,
    or_,
    text,
    update,
)
from sqlalchemy import select as select_columns
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import aliased
from sqlmodel import Field, Session, SQLModel, col, select

from oncall.db import (
    DriverQuery,
    RowInserter,
    UTCDateTime,
    driver_execute,
    driver_executemany,
    dump_json,
    read_json_text,
    read_sqlite_timestamp,
    serialized_writes,
    session_scope,
    sqlite_timestamp,
)

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=15)
FIRST_BACKOFF = timedelta(seconds=5)
# Delivered rows are kept this long (what was sent, when, and its Slack ts), then purged.
RETENTION = timedelta(days=30)
# An undelivered row older than this is dead (failed for good); `outbox retry` revives it.
DEFAULT_MAX_AGE = timedelta(hours=24)
# How long a claimed row stays with its worker: longer than any one outside call may take.
LEASE = timedelta(seconds=60)
CLAIM_BATCH = 100
# A claimed row is not sent once its lease is this close to running out.
LEASE_MARGIN = timedelta(seconds=10)


class Channel(StrEnum):
    slack = "slack"
    pagerduty = "pagerduty"
    console = "console"


class MessageKind(StrEnum):
    """What a row asks its channel to do; each adapter dispatches on it with one table."""

    post_incident = "post_incident"  # Slack: the incident message (chat.postMessage)
    update_incident = "update_incident"  # Slack: chat.update of the stored ts
    thread_message = "thread_message"  # Slack: a reply in the incident's thread
    channel_notice = "channel_notice"  # Slack: a post in a team channel (hand-offs)
    direct_message = "direct_message"  # Slack: a DM to a person (hand-off, swap, calendar)
    usergroup_update = "usergroup_update"  # Slack: a user group set to who is on call
    home_refresh = "home_refresh"  # Slack: views.publish of a person's App Home
    trigger = "trigger"  # PagerDuty Events API v2 event actions
    acknowledge = "acknowledge"
    resolve = "resolve"


_PENDING_SQL = "delivered_at IS NULL AND failed_at IS NULL"


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    # Where set, the key makes enqueueing idempotent within a channel (a repeated INSERT of the
    # same side effect, e.g. one escalation step's page, is dropped).
    __table_args__ = (
        UniqueConstraint("channel", "dedup_key", name="uq_outbox_channel_dedup_key"),
        # Only rows still to deliver are indexed for the worker: delivered ones pile up for
        # 30 days, and a claim must not read past them.
        Index(
            "ix_outbox_pending",
            "channel",
            "next_attempt_at",
            sqlite_where=text(_PENDING_SQL),
            postgresql_where=text(_PENDING_SQL),
        ),
        # The same rows in id order per channel: a claim takes the oldest that can go and stops
        # (no sort of the whole backlog), and "a later row of this storm" reads from the end.
        Index(
            "ix_outbox_pending_by_channel",
            "channel",
            "id",
            sqlite_where=text(_PENDING_SQL),
            postgresql_where=text(_PENDING_SQL),
        ),
        Index(
            "ix_outbox_pending_by_key",
            "ordering_key",
            "id",
            sqlite_where=text(_PENDING_SQL),
            postgresql_where=text(_PENDING_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    kind: str = Field(max_length=64)
    incident_id: int | None = Field(default=None, foreign_key="incidents.id", index=True)
    # Messages with the same ordering key are delivered one after another, in id order.
    ordering_key: str | None = Field(default=None, max_length=128)
    dedup_key: str | None = Field(default=None, max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # The start of the current delivery effort: enqueued, or replayed by `outbox retry`.
    attempts_since: datetime = Field(sa_type=UTCDateTime, nullable=False)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=128)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_via: str | None = Field(default=None, max_length=16)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_INSERT_ROW = RowInserter(OUTBOX)  # built once: parameters are bound per call
_INSERT_IDEMPOTENT = RowInserter(OUTBOX, ignore_conflicts=True)


class PermanentDeliveryError(Exception):
    """The target refused the message for good (a 4xx other than 429): do not retry."""


class RetryableDeliveryError(Exception):
    """The target is unavailable for now (429, 5xx, network): retry with backoff.

    `retry_after` is the target's own word on when to come back (Slack's Retry-After)."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeferredDelivery(RetryableDeliveryError):
    """Not a failure: the handler asks for the row to go at `retry_after` from now (Slack
    coalesces changes to one message this way). No attempt is counted, nothing is logged."""


# --- writing -------------------------------------------------------------------------------

_PENDING_WAKE = "oncall_outbox_channels"


def ordering_key(channel: Channel | str, incident_id: int | None) -> str | None:
    return f"{channel}:incident:{incident_id}" if incident_id is not None else None


def enqueue(
    *,
    session: Session,
    channel: Channel | str,
    kind: MessageKind | str,
    payload: Mapping[str, Any],
    now: datetime,
    incident_id: int | None = None,
    dedup_key: str | None = None,
) -> None:
    """Add a side effect to the caller's transaction; nothing leaves the process until commit.

    A plain INSERT (no ORM object): nothing reads the row back before the worker does. With a
    `dedup_key`, a second row with the same key in the same channel is silently dropped."""
    connection = session.connection()
    values = {
        "channel": str(channel),
        "kind": str(kind),
        "incident_id": incident_id,
        "ordering_key": ordering_key(channel, incident_id),
        "dedup_key": dedup_key,
        "payload": dict(payload),
        "created_at": now,
        "attempts_since": now,
        "next_attempt_at": now,
        "attempts": 0,
        "result": {},
    }
    (_INSERT_ROW if dedup_key is None else _INSERT_IDEMPOTENT)(connection, values)
    session.info.setdefault(_PENDING_WAKE, set()).add(str(channel))


# Workers of this process, woken when a commit enqueued rows for their channel.
_WAKERS: dict[int, Callable[[set[str]], None]] = {}
_WAKERS_GUARD = threading.Lock()


def _after_commit(session: OrmSession) -> None:
    channels = session.info.pop(_PENDING_WAKE, None)
    if channels:
        for wake in list(_WAKERS.values()):
            wake(channels)


def _after_rollback(session: OrmSession) -> None:
    session.info.pop(_PENDING_WAKE, None)


event.listen(OrmSession, "after_commit", _after_commit)
event.listen(OrmSession, "after_soft_rollback", lambda session, _tx: _after_rollback(session))


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """5 s, 10 s, 20 s … capped at 15 min, with up to 20% jitter so retries do not stampede."""
    base = min(FIRST_BACKOFF * (1 << min(max(attempts - 1, 0), 20)), MAX_BACKOFF)
    jitter: float = (rng or random).uniform(0, 0.2)
    return base * (1 + jitter)


# --- delivering ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A leased row, detached from any session: what the handler sends from."""

    id: int
    channel: str
    kind: str
    incident_id: int | None
    payload: Mapping[str, Any]
    attempts: int
    attempts_since: datetime
    lease_until: datetime
    rendered: Any = None


Render = Callable[[Session, Claimed], Any]
Send = Callable[[Claimed], Mapping[str, Any] | None]
Recorded = Callable[[Session, Claimed, Mapping[str, Any]], None]
OnFailure = Callable[[Session, OutboxMessage], None]


@dataclass(frozen=True)
class Handler:
    """How one channel delivers: `render` reads what it needs from the database while the row
    is claimed, `send` calls the outside world with no transaction open, and `recorded` writes
    what the answer means (a Slack ts on its incident) in the transaction that marks the row
    delivered. `name` is what `delivered_via` records (`console` when nothing was sent)."""

    send: Send
    render: Render | None = None
    recorded: Recorded | None = None
    name: str | None = None
    # Nothing leaves the process (the console): a batch is recorded in one transaction, since
    # repeating a log line after a failed commit harms nobody.
    local: bool = False


@dataclass
class DeliveryReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0  # asked by the handler to go a little later (not a failure)

    def add(self, other: DeliveryReport) -> None:
        for name in ("claimed", "delivered", "retried", "failed", "dead", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


_earlier = aliased(OutboxMessage)
_PENDING = and_(OUTBOX.c.delivered_at.is_(None), OUTBOX.c.failed_at.is_(None))

# Rows of :channel that may be sent at :now: due, not leased by a live worker, and not waiting
# behind an earlier undelivered row of their ordering key (head-of-line order). Built once:
# building and caching a statement this size costs more than running it.
_CAN_GO_NOW = (
    select_columns(OUTBOX.c.id)
    .where(OUTBOX.c.channel == bindparam("channel"))
    .where(_PENDING)
    .where(OUTBOX.c.next_attempt_at <= bindparam("now"))
    .where(or_(OUTBOX.c.lease_until.is_(None), OUTBOX.c.lease_until < bindparam("now")))
    .where(
        or_(
            OUTBOX.c.ordering_key.is_(None),
            ~exists().where(
                col(_earlier.ordering_key) == OUTBOX.c.ordering_key,
                col(_earlier.id) < OUTBOX.c.id,
                col(_earlier.delivered_at).is_(None),
                col(_earlier.failed_at).is_(None),
            ),
        )
    )
    .order_by(OUTBOX.c.id)
)
_LEASE = (
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .where(or_(OUTBOX.c.lease_until.is_(None), OUTBOX.c.lease_until < bindparam("now")))
    .values(claimed_by=bindparam("worker"), lease_until=bindparam("lease_until"))
)
_CLAIMED = (
    select_columns(
        OUTBOX.c.id,
        OUTBOX.c.channel,
        OUTBOX.c.kind,
        OUTBOX.c.incident_id,
        OUTBOX.c.payload,
        OUTBOX.c.attempts,
        OUTBOX.c.attempts_since,
    )
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .where(OUTBOX.c.claimed_by == bindparam("worker"))
    .order_by(OUTBOX.c.id)
)


@lru_cache(maxsize=16)
def _candidates(limit: int, dialect: str) -> Any:
    query = _CAN_GO_NOW.limit(limit)
    if dialect == "postgresql":
        # Several replicas' workers take different rows, without waiting for each other.
        query = query.with_for_update(skip_locked=True, of=OUTBOX)
    return query


def claim(
    *,
    engine: Engine,
    channel: str,
    worker: str,
    now: datetime,
    render: Render | None = None,
    limit: int = CLAIM_BATCH,
    lease: timedelta = LEASE,
) -> list[Claimed]:
    """Lease up to `limit` rows of `channel` that can go now to `worker`, in one transaction,
    and render them (`render` reads the database after the claim, before anything is sent).

    On PostgreSQL the candidates are locked with SKIP LOCKED, so workers of several replicas
    take different rows; the conditional UPDATE makes the claim safe on SQLite too."""
    with serialized_writes(engine), session_scope(engine) as session:  # short: no rendering
        connection = session.connection()
        take = _claim_on_driver if connection.dialect.name == "sqlite" else _claim_on_core
        claimed = take(connection, channel, worker, now, now + lease, limit)
        if not claimed:
            return []
    if render is not None and claimed:
        # Read what the messages show after the claim committed: SQLite readers never hold
        # up a writer (WAL), so the webhook does not wait while a batch renders.
        with Session(engine, expire_on_commit=False) as reader:
            claimed = [replace(m, rendered=render(reader, m)) for m in claimed]
    return claimed


def _claim_on_core(
    connection: Connection,
    channel: str,
    worker: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
) -> list[Claimed]:
    ids = list(
        connection.scalars(
            _candidates(limit, connection.dialect.name), {"channel": channel, "now": now}
        )
    )
    if not ids:
        return []
    connection.execute(
        _LEASE, {"ids": ids, "now": now, "worker": worker, "lease_until": lease_until}
    )
    rows = connection.execute(_CLAIMED, {"ids": ids, "worker": worker})
    return _claimed(rows, lease_until)


@lru_cache(maxsize=16)
def _candidates_on_driver(limit: int) -> DriverQuery:
    # SQLite's planner would otherwise read every due row of the channel, check each one's key
    # and sort them all for the first `limit`: a claim grew with the backlog (a storm paced to
    # one Slack post a second), and a drain with its square (bench/README.md).
    return DriverQuery(
        _candidates(limit, "sqlite"), indexed_by=("outbox", "ix_outbox_pending_by_channel")
    )


def _claim_on_driver(
    connection: Connection,
    channel: str,
    worker: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
) -> list[Claimed]:
    """The claim of `_claim_on_core` on SQLite's cursor (the same statements; the row reads
    as the column types read them)."""
    ids = [
        row.id
        for row in _candidates_on_driver(limit).rows(connection, {"channel": channel, "now": now})
    ]
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    stamp = sqlite_timestamp(lease_until)
    driver_execute(
        connection,
        f"UPDATE outbox SET claimed_by = ?, lease_until = ? WHERE id IN ({marks})"
        " AND (lease_until IS NULL OR lease_until < ?)",
        [worker, stamp, *ids, sqlite_timestamp(now)],
    )
    rows = driver_execute(
        connection,
        "SELECT id, channel, kind, incident_id, payload, attempts, attempts_since FROM outbox"
        f" WHERE id IN ({marks}) AND claimed_by = ? ORDER BY id",
        [*ids, worker],
    ).fetchall()
    return _claimed(rows, lease_until, as_text=True)


def _claimed(
    rows: Iterable[Sequence[Any]], lease_until: datetime, *, as_text: bool = False
) -> list[Claimed]:
    """Rows of `_CLAIMED`'s columns as leased messages; `as_text`: as SQLite's own cursor
    reads them (the payload as JSON text, the time as text)."""
    claimed = []
    for row_id, channel, kind, incident_id, payload, attempts, since in rows:
        if as_text:
            payload, since = read_json_text(payload), read_sqlite_timestamp(since)
        claimed.append(
            Claimed(
                id=row_id,
                channel=channel,
                kind=kind,
                incident_id=incident_id,
                payload=payload,
                attempts=attempts,
                attempts_since=since,
                lease_until=lease_until,
            )
        )
    return claimed


def _release(engine: Engine, ids: list[int], worker: str) -> None:
    with serialized_writes(engine), session_scope(engine) as session:
        session.connection().execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(ids))
            .where(OUTBOX.c.claimed_by == worker)
            .where(OUTBOX.c.delivered_at.is_(None))
            .values(claimed_by=None, lease_until=None)
        )


_DELIVERED = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("message_id"))
    .where(OUTBOX.c.delivered_at.is_(None))
    .values(
        delivered_at=bindparam("now"),
        delivered_via=bindparam("via"),
        attempts=OUTBOX.c.attempts + 1,
        result=bindparam("result"),
        last_error=None,
        claimed_by=None,
        lease_until=None,
    )
)


_DELIVERED_ON_DRIVER = (
    "UPDATE outbox SET delivered_at = ?, delivered_via = ?, attempts = attempts + 1, result = ?,"
    " last_error = NULL, claimed_by = NULL, lease_until = NULL"
    " WHERE id = ? AND delivered_at IS NULL"
)


def _record_delivered(
    engine: Engine,
    delivered: list[tuple[Claimed, Mapping[str, Any]]],
    handler: Handler,
    now: datetime,
) -> None:
    """Mark rows delivered, with what their answers mean, in one transaction."""
    with serialized_writes(engine), session_scope(engine) as session:
        connection = session.connection()
        if connection.dialect.name == "sqlite":
            stamp = sqlite_timestamp(now)
            driver_executemany(
                connection,
                _DELIVERED_ON_DRIVER,
                [
                    (stamp, handler.name or message.channel, dump_json(dict(result)), message.id)
                    for message, result in delivered
                ],
            )
        else:
            connection.execute(
                _DELIVERED,
                [
                    {
                        "message_id": message.id,
                        "now": now,
                        "via": handler.name or message.channel,
                        "result": dict(result),
                    }
                    for message, result in delivered
                ],
            )
        if handler.recorded is not None:
            for message, result in delivered:
                handler.recorded(session, message, result)


_DEFER = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("message_id"))
    .where(OUTBOX.c.claimed_by == bindparam("worker"))  # still ours: the lease held
    .where(_PENDING)
    .values(next_attempt_at=bindparam("at"), claimed_by=None, lease_until=None)
)


def _record_deferred(
    engine: Engine,
    deferred: Sequence[tuple[Claimed, DeferredDelivery]],
    worker: str,
    now: datetime,
) -> None:
    """Hand deferred rows back, due when their handler asked: one transaction for a batch
    (in a storm most rows of a batch wait for their message's coalescing window)."""
    with serialized_writes(engine), session_scope(engine) as session:
        session.connection().execute(
            _DEFER,
            [
                {
                    "message_id": m.id,
                    "worker": worker,
                    "at": now + (error.retry_after or FIRST_BACKOFF),
                }
                for m, error in deferred
            ],
        )


def _record_failure(
    engine: Engine,
    message: Claimed,
    error: Exception,
    now: datetime,
    max_age: timedelta,
    on_failure: OnFailure | None,
) -> str:
    """Retry later, or fail for good (refused, or older than `max_age`); return the outcome."""
    permanent = isinstance(error, PermanentDeliveryError)
    text = (str(error) if permanent else f"{type(error).__name__}: {error}")[:2000]
    delay = backoff(message.attempts + 1)
    if isinstance(error, RetryableDeliveryError) and error.retry_after is not None:
        delay = max(delay, error.retry_after)
    dead = not permanent and now + delay - message.attempts_since > max_age
    with serialized_writes(engine), session_scope(engine) as session:
        row = session.get(OutboxMessage, message.id)
        if row is None or row.delivered_at is not None or row.failed_at is not None:
            return "gone"
        row.attempts += 1
        row.claimed_by = None
        row.lease_until = None
        if permanent or dead:
            row.failed_at = now
            row.last_error = text if permanent else f"undelivered after {max_age}: {text}"
            session.add(row)
            session.flush()
            log.warning(
                "outbox %s %s #%s failed for good: %s",
                row.channel,
                row.kind,
                row.id,
                row.last_error,
            )
            if on_failure is not None:
                on_failure(session, row)
            return "dead" if dead else "failed"
        row.last_error = text
        row.next_attempt_at = now + delay
        session.add(row)
    log.info(
        "outbox %s %s #%s attempt %d failed, retrying in %ss: %s",
        message.channel,
        message.kind,
        message.id,
        message.attempts + 1,
        int(delay.total_seconds()),
        text,
    )
    return "retried"


def deliver_channel(
    *,
    engine: Engine,
    channel: str,
    handler: Handler,
    now: Callable[[], datetime],
    worker: str = "worker",
    limit: int = CLAIM_BATCH,
    max_age: timedelta = DEFAULT_MAX_AGE,
    on_failure: OnFailure | None = None,
) -> DeliveryReport:
    """Claim one batch of `channel` and deliver it, each row recorded on its own."""
    report = DeliveryReport()
    batch = claim(
        engine=engine, channel=channel, worker=worker, now=now(), render=handler.render, limit=limit
    )
    report.claimed = len(batch)
    local: list[tuple[Claimed, Mapping[str, Any]]] = []
    deferred: list[tuple[Claimed, DeferredDelivery]] = []
    for index, message in enumerate(batch):
        if now() >= message.lease_until - LEASE_MARGIN:
            # A slow target ate the lease: hand the rest back rather than race another worker.
            _release(engine, [m.id for m in batch[index:]], worker)
            break
        try:
            result = handler.send(message) or {}
        except DeferredDelivery as exc:  # not a failure: handed back with the batch's others
            deferred.append((message, exc))
            report.deferred += 1
            continue
        except Exception as exc:  # any error but a refusal is temporary
            outcome = _record_failure(engine, message, exc, now(), max_age, on_failure)
            if outcome == "retried":
                report.retried += 1
            elif outcome == "failed":
                report.failed += 1
            elif outcome == "dead":
                report.dead += 1
            continue
        if handler.local:
            local.append((message, result))
        else:  # recorded before the next send: a crash repeats at most this one
            _record_delivered(engine, [(message, result)], handler, now())
        report.delivered += 1
    if local:
        _record_delivered(engine, local, handler, now())
    if deferred:
        _record_deferred(engine, deferred, worker, now())
    return report


def deliver_due(
    *,
    engine: Engine,
    handlers: Mapping[str, Handler],
    now: Callable[[], datetime],
    worker: str = "worker",
    limit: int = CLAIM_BATCH,
    max_age: timedelta = DEFAULT_MAX_AGE,
    on_failure: OnFailure | None = None,
) -> DeliveryReport:
    """Deliver what can go now on every channel, until nothing is left (the demo, tests).

    A channel without a handler is left alone: its rows wait for a process that has one."""
    report = DeliveryReport()
    for channel, handler in handlers.items():
        while True:
            part = deliver_channel(
                engine=engine,
                channel=channel,
                handler=handler,
                now=now,
                worker=worker,
                limit=limit,
                max_age=max_age,
                on_failure=on_failure,
            )
            report.add(part)
            if part.delivered == 0:
                break
    return report


class Worker:
    """One delivery thread per channel, woken by commits that enqueue for it (in-process) and
    by a poll (rows written by other processes, retries coming due)."""

    def __init__(
        self,
        *,
        engine: Engine,
        handlers: Mapping[str, Handler],
        now: Callable[[], datetime],
        name: str,
        poll_seconds: float = 2.0,
        settle_seconds: float = 0.05,
        max_age: timedelta = DEFAULT_MAX_AGE,
        on_failure: OnFailure | None = None,
        on_report: Callable[[str, DeliveryReport], None] | None = None,
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.now = now
        self.name = name
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.max_age = max_age
        self.on_failure = on_failure
        self.on_report = on_report
        self._wake = {channel: threading.Event() for channel in self.handlers}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def wake(self, channels: Iterable[str]) -> None:
        for channel in channels:
            flag = self._wake.get(channel)
            if flag is not None:
                flag.set()

    def start(self) -> None:
        with _WAKERS_GUARD:
            _WAKERS[id(self)] = lambda channels: self.wake(channels)
        for channel in self.handlers:
            thread = threading.Thread(
                target=self._run, args=(channel,), name=f"outbox-{channel}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the message in flight, then stop (its lease would expire otherwise)."""
        with _WAKERS_GUARD:
            _WAKERS.pop(id(self), None)
        self._stopping.set()
        for flag in self._wake.values():
            flag.set()
        for thread in self._threads:
            thread.join(timeout=timeout)

    def _run(self, channel: str) -> None:
        flag = self._wake[channel]
        handler = self.handlers[channel]
        wait = 0.0
        while not self._stopping.is_set():
            if flag.wait(wait):
                # Woken by a commit: let the commits of the next moment join this claim, so
                # a burst of incidents costs a few claims, not one per incident.
                self._stopping.wait(self.settle_seconds)
            flag.clear()
            while not self._stopping.is_set():
                try:
                    report = deliver_channel(
                        engine=self.engine,
                        channel=channel,
                        handler=handler,
                        now=self.now,
                        worker=self.name,
                        max_age=self.max_age,
                        on_failure=self.on_failure,
                    )
                except Exception:
                    log.exception(
                        "outbox %s worker failed; next try in %ss", channel, self.poll_seconds
                    )
                    break
                if self.on_report is not None and report.claimed:
                    self.on_report(channel, report)
                if report.claimed == 0 or report.delivered == 0:
                    break  # nothing left, or the target is failing: the backoff decides
                if report.claimed < CLAIM_BATCH:
                    # Rows that waited behind the ones just sent can go now; let the next
                    # moment's commits join them, so a steady stream of incidents is sent
                    # in batches (one claim per batch) rather than a row or two at a time.
                    self._stopping.wait(self.settle_seconds)
            wait = self._until_next_due(channel)

    def _until_next_due(self, channel: str) -> float:
        """Seconds to wait for the next wake: the poll, or less when a row of the channel comes
        due before it (a coalesced Slack update at the end of its window, a retry's backoff),
        so that row goes on time rather than on the poll after it."""
        try:
            now = self.now()
            with self.engine.connect() as connection:
                due: datetime | None = connection.execute(
                    _NEXT_DUE, {"channel": channel, "now": now}
                ).scalar_one_or_none()
        except Exception:
            log.exception("outbox %s worker: next due row not read", channel)
            return self.poll_seconds
        if due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(0.0, (due - now).total_seconds()) + 0.01)


# When the first undelivered row of a channel that waits for its time comes due.
_NEXT_DUE = (
    select_columns(func.min(OUTBOX.c.next_attempt_at))
    .where(OUTBOX.c.channel == bindparam("channel"))
    .where(_PENDING)
    .where(OUTBOX.c.next_attempt_at > bindparam("now"))
)


# --- housekeeping and the operator's view --------------------------------------------------


def expire_undelivered(
    *, session: Session, now: datetime, max_age: timedelta = DEFAULT_MAX_AGE
) -> list[OutboxMessage]:
    """Mark rows undelivered for longer than `max_age` (and not in flight) as dead; return
    them so the caller can show each on its incident."""
    rows = list(
        session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.delivered_at).is_(None))
            .where(col(OutboxMessage.failed_at).is_(None))
            .where(col(OutboxMessage.attempts_since) < now - max_age)
            .where(
                or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) < now)
            )
            .order_by(col(OutboxMessage.id))
            .limit(1000)
        )
    )
    for row in rows:
        row.failed_at = now
        row.claimed_by = None
        row.lease_until = None
        row.last_error = f"undelivered after {max_age}" + (
            f": {row.last_error}" if row.last_error else ""
        )
        session.add(row)
    session.flush()
    return rows


def pending_count(*, session: Session) -> int:
    return session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(col(OutboxMessage.delivered_at).is_(None))
        .where(col(OutboxMessage.failed_at).is_(None))
    ).one()


def list_messages(
    *, session: Session, failed: bool = False, limit: int = 200
) -> list[OutboxMessage]:
    """Rows waiting to leave (or, with `failed`, rows that failed for good), oldest first."""
    query = select(OutboxMessage).where(col(OutboxMessage.delivered_at).is_(None))
    if failed:
        query = query.where(col(OutboxMessage.failed_at).is_not(None))
    else:
        query = query.where(col(OutboxMessage.failed_at).is_(None))
    return list(session.exec(query.order_by(col(OutboxMessage.id)).limit(limit)))


def retry_message(*, session: Session, message_id: int, now: datetime) -> OutboxMessage:
    """Replay a row that failed for good: it goes again at once, with a fresh `max_age`."""
    from oncall.errors import Conflict, UnknownEntity

    row = session.get(OutboxMessage, message_id)
    if row is None:
        raise UnknownEntity(
            "outbox message", str(message_id), message=f"unknown outbox message {message_id}"
        )
    if row.delivered_at is not None:
        raise Conflict(f"outbox message {message_id} was delivered at {row.delivered_at:%c}")
    if row.failed_at is None:
        raise Conflict(f"outbox message {message_id} has not failed; it is still being delivered")
    row.failed_at = None
    row.attempts_since = now
    row.next_attempt_at = now
    row.claimed_by = None
    row.lease_until = None
    session.add(row)
    session.flush()
    session.info.setdefault(_PENDING_WAKE, set()).add(row.channel)
    return row


def purge_delivered(*, session: Session, now: datetime, keep: timedelta = RETENTION) -> int:
    """Delete rows delivered before `now - keep`; failed and pending rows stay.

    Incidents keep their Slack ts and their timeline, so nothing a person reads is lost."""
    result = session.execute(
        delete(OutboxMessage)
        .where(col(OutboxMessage.delivered_at).is_not(None))
        .where(col(OutboxMessage.delivered_at) < now - keep)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


__all__ = [
    "Channel",
    "Claimed",
    "DeferredDelivery",
    "DeliveryReport",
    "Handler",
    "MessageKind",
    "OutboxMessage",
    "PermanentDeliveryError",
    "RetryableDeliveryError",
    "Worker",
    "backoff",
    "claim",
    "deliver_channel",
    "deliver_due",
    "enqueue",
    "expire_undelivered",
    "list_messages",
    "pending_count",
    "purge_delivered",
    "retry_message",
]
