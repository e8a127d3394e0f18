"""The outbox: at-least-once delivery with backoff, permanent failures kept, order per incident."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from oncall.clock import FrozenClock
from oncall.outbox import (
    Claimed,
    Handler,
    OutboxMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    backoff,
    deliver_due,
    enqueue,
    pending_count,
)

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def add(engine: Engine, *kinds: str, incident_id: int | None = None) -> None:
    with Session(engine) as s:
        for kind in kinds:
            enqueue(
                session=s,
                channel="slack",
                kind=kind,
                payload={"k": kind},
                now=T0,
                incident_id=incident_id,
            )
        s.commit()


def rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


class Recorder:
    """A target that records what it was sent and fails as told, per message kind."""

    def __init__(self, fail: dict[str, list[Exception]] | None = None) -> None:
        self.fail = fail or {}
        self.sent: list[str] = []

    def __call__(self, message: Claimed) -> Mapping[str, Any]:
        errors = self.fail.get(message.kind)
        if errors:
            raise errors.pop(0)
        self.sent.append(message.kind)
        return {"ts": f"ts-{message.kind}"}

    @property
    def handler(self) -> Handler:
        return Handler(send=self)


def test_rolled_back_transaction_leaves_no_side_effect(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as s:
        enqueue(session=s, channel="slack", kind="post", payload={}, now=T0)
        s.rollback()
    assert rows(sqlite_engine) == []


def test_temporary_failure_is_retried_with_backoff_until_delivered(engine: Engine) -> None:
    add(engine, "post")
    clock = FrozenClock(T0)
    target = Recorder({"post": [RetryableDeliveryError("503"), RetryableDeliveryError("429")]})

    report = deliver_due(engine=engine, handlers={"slack": target.handler}, now=clock)
    assert (report.delivered, report.retried) == (0, 1)
    [row] = rows(engine)
    assert row.attempts == 1
    assert row.next_attempt_at >= T0 + timedelta(seconds=5)
    assert "503" in (row.last_error or "")

    # Not due yet: nothing is tried.
    assert deliver_due(engine=engine, handlers={"slack": target.handler}, now=clock).retried == 0
    clock.advance(timedelta(seconds=7))
    deliver_due(engine=engine, handlers={"slack": target.handler}, now=clock)
    clock.advance(timedelta(seconds=13))
    report = deliver_due(engine=engine, handlers={"slack": target.handler}, now=clock)
    assert report.delivered == 1
    [row] = rows(engine)
    assert (row.attempts, row.result, row.last_error) == (3, {"ts": "ts-post"}, None)
    assert row.delivered_at == clock()
    assert target.sent == ["post"]
    # Delivered rows are never sent again.
    clock.advance(timedelta(hours=1))
    deliver_due(engine=engine, handlers={"slack": target.handler}, now=clock)
    assert target.sent == ["post"]


def test_permanent_failure_is_kept_and_not_retried(engine: Engine) -> None:
    add(engine, "post")
    clock = FrozenClock(T0)
    target = Recorder({"post": [PermanentDeliveryError("400 invalid_blocks")]})
    failed: list[int | None] = []
    report = deliver_due(
        engine=engine,
        handlers={"slack": target.handler},
        now=clock,
        on_failure=lambda _s, m: failed.append(m.id),
    )
    assert report.failed == 1
    [row] = rows(engine)
    assert row.failed_at == T0
    assert row.last_error == "400 invalid_blocks"
    assert failed == [row.id]
    clock.advance(timedelta(hours=1))
    assert deliver_due(engine=engine, handlers={"slack": target.handler}, now=clock).delivered == 0
    with Session(engine) as s:
        assert pending_count(session=s) == 0


def test_messages_of_one_incident_wait_for_the_earlier_ones(sqlite_engine: Engine) -> None:
    from sqlmodel import SQLModel  # noqa: F401

    from oncall.incidents.models import Incident, group_hash

    with Session(sqlite_engine) as s:
        s.add(
            Incident(
                id=1,
                group_key="g",
                group_hash=group_hash("g"),
                title="t",
                triggered_at=T0,
                updated_at=T0,
            )
        )
        s.commit()
    add(sqlite_engine, "post", "update", incident_id=1)
    clock = FrozenClock(T0)
    target = Recorder({"post": [RetryableDeliveryError("timeout")]})
    deliver_due(engine=sqlite_engine, handlers={"slack": target.handler}, now=clock)
    # The update must not overtake the post it updates.
    assert target.sent == []
    clock.advance(timedelta(minutes=1))
    deliver_due(engine=sqlite_engine, handlers={"slack": target.handler}, now=clock)
    deliver_due(engine=sqlite_engine, handlers={"slack": target.handler}, now=clock)
    assert target.sent == ["post", "update"]


@pytest.mark.parametrize(
    ("attempts", "base"),
    [
        (1, timedelta(seconds=5)),
        (2, timedelta(seconds=10)),
        (5, timedelta(seconds=80)),
        (9, timedelta(minutes=15)),
        (30, timedelta(minutes=15)),
    ],
)
def test_backoff_doubles_from_5_seconds_up_to_15_minutes_with_jitter(
    attempts: int, base: timedelta
) -> None:
    import random

    delays = [backoff(attempts, rng=random.Random(seed)) for seed in range(50)]
    assert all(base <= d <= base * 1.2 for d in delays)
    assert len(set(delays)) > 1  # jittered, so retries of many rows do not all land together


def test_delivered_rows_are_purged_after_the_retention_failed_ones_are_kept(
    engine: Engine,
) -> None:
    from oncall.outbox import RETENTION, purge_delivered

    add(engine, "delivered", "refused", "also-delivered")
    clock = FrozenClock(T0)
    target = Recorder({"refused": [PermanentDeliveryError("400")]})
    deliver_due(engine=engine, handlers={"slack": target.handler}, now=clock)
    with Session(engine) as s:
        assert purge_delivered(session=s, now=T0 + RETENTION - timedelta(seconds=1)) == 0
        s.commit()
    with Session(engine) as s:
        assert purge_delivered(session=s, now=T0 + RETENTION + timedelta(seconds=1)) == 2
        s.commit()
    left = {(m.kind, m.failed_at is not None) for m in rows(engine)}
    assert left == {("refused", True)}
